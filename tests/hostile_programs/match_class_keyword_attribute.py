# expect: match-keyword-pattern
import re


def label(x):
    match re.compile("spam"):
        case re.Pattern(pattern=source):
            return 1 if source in x else 0
    return -1
