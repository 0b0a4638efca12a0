# expect: encoding-declaration
# coding: utf-7
def label(x):
    return -1  #+AAo-    import os
