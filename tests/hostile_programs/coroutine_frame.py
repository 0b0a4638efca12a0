# expect: forbidden-attribute
async def _coro():
    return 1


def label(x):
    c = _coro()
    frame = c.cr_frame
    c.close()
    return 0 if frame else -1
