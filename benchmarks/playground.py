"""Frames a second that `tapegrad playground` streams while training moons-small.

    python benchmarks/playground.py              # 10 seconds of training
    python benchmarks/playground.py --seconds 30 --steps-per-frame 5

Starts `tapegrad playground --no-browser` as a user does, opens its event stream as a
page would (plain HTTP, no browser: the browser tests log the frame rate the page itself
counts), chooses micrograd's demo network (MLP(2, [16, 16, 1]) on 100 moons points, the
page's default), presses Train and counts the frames that arrive. While it trains it also
times the other requests a page makes (a neuron's graph, Pause and Train), to show the
server stays responsive. The server paces frames at 30 a second at most.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

SRC = Path(__file__).resolve().parent.parent / 'src'


class BenchmarkError(Exception):
    """The playground did not start or answer as a page expects; the message says how."""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--steps-per-frame', default='1')
    args = parser.parse_args(argv)

    env = dict(os.environ)  # this checkout's tapegrad, installed or not
    env['PYTHONPATH'] = os.pathsep.join([str(SRC)] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    server = subprocess.Popen([sys.executable, '-m', 'tapegrad', 'playground', '--no-browser'],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = server.stdout.readline()
        found = re.search(r'http://\S+/', line)
        if not found:
            server.kill()
            raise BenchmarkError(f"`tapegrad playground` printed no URL (it printed {line!r}); "
                                 f"its errors: {server.communicate()[1].strip() or 'none'}")
        url = urlparse(found.group(0))
        return measure(url.hostname, url.port, args)
    except BenchmarkError as error:
        print(f"benchmarks/playground.py: {error}", file=sys.stderr)
        return 1
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=15)


def measure(host, port, args):
    frames, session = [], {}
    ready = threading.Event()

    def listen():
        stream = http.client.HTTPConnection(host, port, timeout=60)
        stream.request('GET', '/api/events')
        response = stream.getresponse()
        for line in response:
            if not line.startswith(b'data: '):
                continue
            event = json.loads(line[6:])
            if event['type'] == 'hello':
                session['id'] = event['session']
                ready.set()
            elif event['type'] == 'frame':
                frames.append((time.perf_counter(), event['step']))

    threading.Thread(target=listen, daemon=True).start()
    if not ready.wait(30):
        raise BenchmarkError(f"no hello on http://{host}:{port}/api/events within 30 s: the "
                             f"server does not stream events as a page expects")

    def post(path, body):
        connection = http.client.HTTPConnection(host, port, timeout=60)
        start = time.perf_counter()
        connection.request('POST', path, json.dumps(dict(body, session=session['id'])),
                           {'Content-Type': 'application/json'})
        answer = json.loads(connection.getresponse().read())
        if 'error' in answer:
            raise BenchmarkError(f"POST {path} {body} was refused: {answer['error']}")
        return answer, time.perf_counter() - start

    post('/api/settings', {'settings': {'dataset': 'moons', 'layers': '2', 'widths': ['16', '16'],
                                        'steps_per_frame': args.steps_per_frame}})
    _, train = post('/api/control', {'action': 'train'})
    time.sleep(3)  # the first step traces the model; count from steady training on
    start, first = time.perf_counter(), len(frames)
    waits = []
    while time.perf_counter() - start < args.seconds:
        time.sleep(0.5)
        waits.append(post('/api/graph', {'layer': 1, 'neuron': 0, 'sample': 0})[1])
    counted = frames[first:]
    seconds = time.perf_counter() - start
    rate = len(counted) / seconds
    steps = counted[-1][1] - counted[0][1] if len(counted) > 1 else 0
    print(f"moons-small, MLP(2, [16, 16, 1]) on 100 points, {args.steps_per_frame} step(s) a frame:")
    print(f"  {rate:.1f} frames a second over {seconds:.1f} s ({len(counted)} frames, "
          f"{steps / seconds:.0f} training steps a second)")
    print(f"  a neuron's graph while training: median {1000 * statistics.median(waits):.0f} ms, "
          f"slowest {1000 * max(waits):.0f} ms ({len(waits)} requests)")
    _, pause = post('/api/control', {'action': 'pause'})
    print(f"  Train answered in {1000 * train:.0f} ms, Pause (while training) in {1000 * pause:.0f} ms")
    return 0


if __name__ == '__main__':
    sys.exit(main())
