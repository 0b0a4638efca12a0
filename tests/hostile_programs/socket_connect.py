# expect: forbidden-import
import socket

PORT = 0  # tests/test_containment.py points this at a listener that must see no connection


def label(x):
    with socket.create_connection(("127.0.0.1", PORT), timeout=1) as connection:
        connection.sendall(x.encode())
    return 1
