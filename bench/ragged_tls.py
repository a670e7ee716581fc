# Ragged TLS ends (issue #21): python3 bench/ragged_tls.py 127.0.0.1 7443 against tls_echo.
# Ragged TLS ends against tls_echo: send lines, close the TCP write side without a
# TLS close_notify, count the trials whose every line came back.
import os, socket, ssl, sys
host, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def trial(lines):
    raw = socket.create_connection((host, port), timeout=20)
    dup = socket.socket(fileno=os.dup(raw.fileno()))   # to end TCP under TLS
    s = ctx.wrap_socket(raw, server_hostname='localhost')
    sent = b''.join(b'line %d\r\n' % i for i in range(lines))
    s.sendall(sent)
    dup.shutdown(socket.SHUT_WR)   # no close_notify
    got = b''
    try:
        while len(got) < len(sent):
            chunk = s.recv(65536)
            if not chunk: break
            got += chunk
    except (ssl.SSLError, OSError):
        pass
    s.close(); dup.close()
    return got == sent
for lines, trials in [(1, 200), (1000, 20)]:
    ok = sum(trial(lines) for _ in range(trials))
    print(f'{lines} line(s): {ok}/{trials} answered')
