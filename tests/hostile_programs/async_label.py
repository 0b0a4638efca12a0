# expect: label-signature
async def label(x):
    return 0
