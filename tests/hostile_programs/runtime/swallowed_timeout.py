# expect: runtime-timeout
def label(x):
    while True:
        try:
            while True:
                pass
        except:  # noqa: E722 - a bare except catches the timeout too
            continue
