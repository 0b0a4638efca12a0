# expect: forbidden-attribute
def label(x):
    try:
        raise ValueError(x)
    except ValueError as error:
        frame = error.__traceback__.tb_frame
        return 1 if frame.f_back.f_globals else -1
