# expect: forbidden-attribute
import re


def label(x):
    threading = re.RegexFlag._convert_.__globals__["sys"].modules["threading"]
    threading.Thread(target=lambda: None, daemon=True).start()
    while True:
        pass
