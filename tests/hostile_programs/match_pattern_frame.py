# expect: match-keyword-pattern
def _gen():
    yield 1


def label(x):
    match _gen():
        case object(gi_frame=frame):
            return 1 if frame else -1
    return -1
