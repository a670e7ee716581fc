# The README "Under attack" row for SMTP bodies: see there for the command.
# 200 SMTP sessions, each sending a 9 MB body at 1 MB/s, against smtp_server; a probe
# sends a small mail with smtplib every second meanwhile. Prints the outcome of every
# session, the probes served, and the server's peak RSS (VmHWM).
import asyncio, smtplib, sys, time, threading
host, port, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
SESSIONS, BODY, RATE = int(sys.argv[4]) if len(sys.argv) > 4 else 200, 9_000_000, 1_000_000
outcomes = {}
done = {}
async def session(i):
    try:
        r, w = await asyncio.open_connection(host, port)
        async def line():
            l = await asyncio.wait_for(r.readline(), 60)
            return l.decode(errors='replace').strip()
        async def reply():
            while True:
                l = await line()
                if len(l) < 4 or l[3] != '-':
                    return l
        await reply()
        for cmd in [b'EHLO load\r\n', b'MAIL FROM:<a@x>\r\n', b'RCPT TO:<b@y>\r\n', b'DATA\r\n']:
            w.write(cmd); await w.drain(); rep = await reply()
            if not rep.startswith(('2', '3')):
                outcomes[i] = 'refused ' + rep; return
        chunk = (b'x' * 78 + b'\r\n') * 800  # 64,000 bytes
        sent, start = 0, time.monotonic()
        while sent < BODY:
            w.write(chunk); sent += len(chunk)
            await w.drain()
            ahead = sent / RATE - (time.monotonic() - start)
            if ahead > 0: await asyncio.sleep(ahead)
        w.write(b'.\r\n'); await w.drain()
        done[i] = True
        outcomes[i] = await reply() or 'closed without a reply'
        w.close()
    except Exception as e:
        # A shed session may have its reply waiting: read it.
        try:
            rest = await asyncio.wait_for(r.read(), 5)
            text = rest.decode(errors='replace').strip().splitlines()
            outcomes[i] = ('error ' + text[-1]) if text else f'dropped ({type(e).__name__})'
        except Exception:
            outcomes[i] = f'dropped ({type(e).__name__})'
        if done.get(i):
            outcomes[i] = 'AFTER THE WHOLE BODY: ' + outcomes[i]
probes = []
def probe(stop):
    while not stop.is_set():
        t = time.monotonic()
        try:
            with smtplib.SMTP(host, port, timeout=5) as s:
                s.sendmail('p@x', ['q@y'], 'Subject: probe\r\n\r\nhello\r\n')
            probes.append(time.monotonic() - t)
        except Exception as e:
            probes.append(None)
        time.sleep(1)
async def main():
    stop = threading.Event(); th = threading.Thread(target=probe, args=(stop,)); th.start()
    await asyncio.gather(*(session(i) for i in range(SESSIONS)))
    stop.set(); th.join()
asyncio.run(main())
from collections import Counter
summary = Counter(o.split(' queued as')[0] for o in outcomes.values())
print('sessions:', dict(summary))
ok = [p for p in probes if p is not None]
print(f'probes served: {len(ok)}/{len(probes)}, slowest {max(ok) if ok else 0:.2f} s')
for l in open(f'/proc/{pid}/status'):
    if l.startswith(('VmHWM', 'VmRSS')): print(l.strip())
