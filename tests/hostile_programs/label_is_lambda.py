# expect: label-signature
label = lambda x: 0
