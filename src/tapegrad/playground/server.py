"""The playground's web server: the page, a small JSON API, and a stream of frames per page.

Each open page holds one Server-Sent Events stream (/api/events); the stream is its
session: the page's run, sweep and uploaded data live as long as it is open, and
closing the page ends the stream, which stops them. The page's buttons are POSTs of
JSON. Training runs in threads (trainer.py), so the event loop answers at once.

Safety: the server answers only requests whose Host header names the address it serves
(a web page elsewhere cannot reach it by pointing a DNS name at 127.0.0.1), refuses
POSTs from other origins, and takes nothing it runs: settings are names from fixed
tables and numbers, uploads are CSV files of numbers.
"""

import asyncio
import gc
import ipaddress
import json
import secrets
import socket
import threading
import time
import webbrowser
from dataclasses import replace
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .frames import merge
from .neuron_graph import GraphError, neuron_graph
from ..nn import ACTIVATIONS
from ..train import OPTIMIZERS
from .settings import (BUILT_IN, COURSE_RATES, DEFAULTS, LOSS_CHOICES, MAX_LAYERS,
                       MAX_UPLOAD_BYTES, MAX_WIDTH, STEPS_PER_FRAME, SettingsError, build_model,
                       built_in, load_parameters, page_fields, parse_settings,
                       parse_steps, parse_steps_per_frame, read_csv)
from .trainer import Run, Sweep, warm_up

STATIC = Path(__file__).resolve().parent / 'static'
MAX_JSON_BYTES = 64_000
PING_SECONDS = 15
SECURITY_HEADERS = {
    'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-store',
}


class RequestError(Exception):
    """A request the page should not have sent, answered with its status and message."""

    def __init__(self, status, message, field=None):
        super().__init__(message)
        self.status, self.field = status, field


# ----------------------------------------------------------------------------------
# Sessions: one per open page


class Session:
    def __init__(self, session_id, loop):
        self.id, self.loop = session_id, loop
        self.queue = asyncio.Queue()
        self.run = self.sweep = self.upload = None
        self.settings = None
        self.counter = 0
        self.closed = False

    def publish(self, event):
        """Send an event to the page; safe from any thread."""
        if self.closed:
            return
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # the event loop has closed: the server is stopping
            pass

    def next_id(self):
        self.counter += 1
        return self.counter

    def dataset(self, settings):
        if settings.dataset != 'upload':
            return built_in(settings.dataset)
        if self.upload is None:
            raise SettingsError("no CSV file uploaded yet: choose a file first", 'upload')
        return self.upload

    def new_run(self, settings):
        """Replace the run with a fresh one for `settings` (a bad setting changes nothing).

        A sweep of other settings stops: its pictures would be drawn over the new points."""
        dataset = self.dataset(settings)
        run = Run(self.next_id(), settings, dataset, self.publish)
        if self.run is not None:
            self.run.stop()
        if self.sweep is not None and not self.sweep.trains(settings, dataset):
            self.sweep.stop()
            self.publish({'type': 'sweep-stopped', 'sweep': self.sweep.id,
                          'message': 'stopped: the settings changed (run the sweep again for '
                                     'the new ones)'})
            self.sweep = None
        self.run, self.settings = run, settings
        self.publish(dict(run.facts, type='run'))
        self.publish(run.first_frame())
        return run

    def new_sweep(self, steps):
        """Replace the sweep with a fresh one of `steps` steps on the run's settings."""
        if self.sweep is not None:
            self.sweep.stop()
        settings = replace(self.settings, steps=steps)
        self.sweep = Sweep(self.next_id(), settings, self.run.dataset, self.publish)
        self.sweep.start()
        return self.sweep

    def close(self):
        self.closed = True
        for worker in (self.run, self.sweep):
            if worker is not None:
                worker.stop()


class Playground:
    """The app's state: open sessions, and whether the server is stopping."""

    def __init__(self):
        self.sessions = {}
        self.stopping = threading.Event()

    def session(self, body):
        session = self.sessions.get(str(body.get('session')))
        if session is None:
            raise RequestError(410, "this page's connection to the playground has ended (was "
                                    "the server restarted?): reload the page")
        return session

    def stop(self):
        self.stopping.set()
        for session in list(self.sessions.values()):
            session.close()


def _sse(event):
    return f"data: {json.dumps(event, allow_nan=False, separators=(',', ':'))}\n\n"


OPTIONS = {
    'datasets': {name: title for name, (title, _) in BUILT_IN.items()},
    'activations': list(ACTIVATIONS), 'losses': list(LOSS_CHOICES),
    'optimizers': list(OPTIMIZERS), 'steps_per_frame': list(STEPS_PER_FRAME),
    'rates': list(COURSE_RATES), 'max_layers': MAX_LAYERS, 'max_width': MAX_WIDTH,
    'max_upload_bytes': MAX_UPLOAD_BYTES, 'defaults': page_fields(DEFAULTS),
}


# ----------------------------------------------------------------------------------
# Requests


async def _json(request):
    if int(request.headers.get('content-length') or 0) > MAX_JSON_BYTES:
        raise RequestError(413, f"a request of more than {MAX_JSON_BYTES:,} bytes")
    if not request.headers.get('content-type', '').startswith('application/json'):
        raise RequestError(415, "send JSON (Content-Type: application/json)")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise RequestError(400, "the request is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(400, "the request must be a JSON object")
    return body


def _endpoint(handler):
    """Wrap a handler: its errors become {'error': message, 'field': ...} with a status."""
    async def endpoint(request):
        try:
            return JSONResponse(await handler(request.app.state.playground, request))
        except RequestError as error:
            return JSONResponse({'error': str(error), 'field': error.field}, error.status)
        except (SettingsError, GraphError) as error:
            return JSONResponse({'error': str(error), 'field': getattr(error, 'field', None)}, 400)
        except Exception as error:  # noqa: BLE001 - one message on the page; the server goes on
            return JSONResponse({'error': f"the playground failed: {type(error).__name__}: {error}",
                                 'field': None}, 500)
    return endpoint


async def events(request):
    playground = request.app.state.playground
    session = Session(secrets.token_urlsafe(16), asyncio.get_running_loop())
    playground.sessions[session.id] = session

    async def stream():
        try:
            yield _sse({'type': 'hello', 'session': session.id, 'options': OPTIONS})
            quiet = 0.0
            while not playground.stopping.is_set():
                try:
                    event = await asyncio.wait_for(session.queue.get(), timeout=0.5)
                except asyncio.TimeoutError:
                    quiet += 0.5
                    if quiet >= PING_SECONDS:  # a comment line: finds pages that went away
                        quiet = 0.0
                        yield ': ping\n\n'
                    continue
                quiet = 0.0
                while not session.queue.empty():  # a slow page gets fewer, fuller frames
                    newer = session.queue.get_nowait()
                    merged = merge(event, newer)
                    if merged is None:
                        yield _sse(event)
                        event = newer
                    else:
                        event = merged
                yield _sse(event)
        finally:
            session.close()
            playground.sessions.pop(session.id, None)

    return StreamingResponse(stream(), media_type='text/event-stream',
                             headers={'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no'})


async def post_settings(playground, request):
    body = await _json(request)
    session = playground.session(body)
    settings = parse_settings(body.get('settings'))
    run = await run_in_threadpool(session.new_run, settings)
    return {'ok': True, 'run': run.id, 'loss': run.loss}


async def post_steps_per_frame(playground, request):
    """A new frame rate for the run: it goes on training (a new run would start again)."""
    body = await _json(request)
    session = playground.session(body)
    if session.run is None:
        raise RequestError(409, "choose the settings first")
    steps_per_frame = parse_steps_per_frame(body)
    session.run.set_steps_per_frame(steps_per_frame)
    session.settings = replace(session.settings, steps_per_frame=steps_per_frame)
    return {'ok': True, 'run': session.run.id, 'steps_per_frame': steps_per_frame}


async def post_control(playground, request):
    body = await _json(request)
    session = playground.session(body)
    action = body.get('action')
    if session.run is None:
        raise RequestError(409, "choose the settings first")
    if action == 'reset':
        run = await run_in_threadpool(session.new_run, session.settings)
        return {'ok': True, 'run': run.id, 'state': run.state}
    if action not in ('train', 'pause', 'step'):
        raise RequestError(400, f"unknown action {action!r}: train, pause, step or reset")
    state = session.run.control(action)
    session.publish({'type': 'state', 'run': session.run.id, 'state': state,
                     'message': session.run.message})
    return {'ok': True, 'run': session.run.id, 'state': state}


async def post_upload(playground, request):
    session = playground.session(dict(request.query_params))
    name = Path(request.query_params.get('name') or 'upload.csv').name[:100] or 'upload.csv'
    declared = int(request.headers.get('content-length') or 0)
    if declared > MAX_UPLOAD_BYTES:
        raise RequestError(413, f"{name} is {declared:,} bytes; the playground takes CSV files "
                                f"up to {MAX_UPLOAD_BYTES:,} bytes", 'upload')
    content = bytearray()
    async for chunk in request.stream():
        content += chunk
        if len(content) > MAX_UPLOAD_BYTES:
            raise RequestError(413, f"{name} is over {MAX_UPLOAD_BYTES:,} bytes; the playground "
                                    f"takes CSV files up to {MAX_UPLOAD_BYTES:,} bytes", 'upload')
    dataset = await run_in_threadpool(read_csv, name, bytes(content))
    session.upload = dataset
    return {'ok': True, 'name': name, 'rows': len(dataset.X), 'features': dataset.n_features,
            'classes': dataset.classes}


async def post_graph(playground, request):
    body = await _json(request)
    session = playground.session(body)
    run = session.run
    if run is None:
        raise RequestError(409, "choose the settings first")

    def draw():
        model = load_parameters(build_model(run.settings, run.dataset), run.snapshot)
        return neuron_graph(model, run.dataset.X, run.targets, run.loss, body.get('layer'),
                            body.get('neuron'), body.get('sample', 0), body.get('wrt', 'neuron'))
    graph = await run_in_threadpool(draw)
    return dict(graph, run=run.id, step=run.step)


async def post_sweep(playground, request):
    body = await _json(request)
    session = playground.session(body)
    if session.run is None:
        raise RequestError(409, "choose the settings first")
    sweep = session.new_sweep(parse_steps(body))
    return {'ok': True, 'sweep': sweep.id, 'rates': list(sweep.rates), 'steps': sweep.settings.steps}


async def status(request):
    """How many pages are open and how many of their runs are training: for tests and the curious."""
    sessions = list(request.app.state.playground.sessions.values())
    return JSONResponse({'pages': len(sessions),
                         'training': sum(1 for s in sessions if s.run and s.run.state == 'running'),
                         'threads': sum(1 for t in threading.enumerate()
                                        if t.name.startswith('playground-') and t.is_alive())})


async def index(request):
    return FileResponse(STATIC / 'index.html', headers=SECURITY_HEADERS)


# ----------------------------------------------------------------------------------
# Guards


def allowed_hosts(host, port):
    """The Host headers a browser sends for this server: host:port, and localhost's names
    (on port 80, HTTP's own, browsers leave the port out)."""
    def headers(name):
        bare = f"[{name}]" if ':' in name else name
        return {f"{bare}:{port}", bare} if port == 80 else {f"{bare}:{port}"}
    names = {host}
    if _is_loopback(host) or _is_unspecified(host):
        names |= {'127.0.0.1', 'localhost', '::1'}
    if _is_unspecified(host):
        names |= {socket.gethostname(), socket.getfqdn()}
    return set().union(*map(headers, names))


def _is_loopback(host):
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_unspecified(host):
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


class LocalOnly:
    """Refuse a request for another Host (DNS rebinding), or a POST from another origin."""

    def __init__(self, app, hosts):
        self.app, self.hosts = app, set(hosts)
        self.origins = {f"http://{h}" for h in self.hosts}

    async def __call__(self, scope, receive, send):
        if scope['type'] == 'http':
            headers = {k.decode('latin-1').lower(): v.decode('latin-1') for k, v in scope['headers']}
            host = headers.get('host', '')
            origin = headers.get('origin')
            problem = None
            if host not in self.hosts:
                problem = (f"tapegrad playground answers requests for "
                           f"{' or '.join(sorted(self.hosts))} only, not for Host {host!r}")
            elif scope['method'] not in ('GET', 'HEAD') and origin not in (None, *self.origins):
                problem = f"tapegrad playground takes requests from its own page only, not from {origin!r}"
            if problem:
                await PlainTextResponse(problem + '\n', status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(hosts):
    app = Starlette(routes=[
        Route('/', index),
        Route('/api/events', events),
        Route('/api/status', status),
        Route('/api/settings', _endpoint(post_settings), methods=['POST']),
        Route('/api/steps-per-frame', _endpoint(post_steps_per_frame), methods=['POST']),
        Route('/api/control', _endpoint(post_control), methods=['POST']),
        Route('/api/upload', _endpoint(post_upload), methods=['POST']),
        Route('/api/graph', _endpoint(post_graph), methods=['POST']),
        Route('/api/sweep', _endpoint(post_sweep), methods=['POST']),
        Mount('/static', StaticFiles(directory=STATIC)),
    ])
    app.state.playground = Playground()
    return LocalOnly(app, hosts), app.state.playground


# ----------------------------------------------------------------------------------
# Serving


def _listening_socket(host, port):
    if not 0 <= port <= 65535:
        raise ValueError(f"--port must be from 0 (a free port) to 65535, got {port}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise OSError(f"cannot serve on host {host!r}: {error.strerror}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise OSError(f"cannot serve on {host}:{port}: {error.strerror}; choose another "
                      f"--port (or leave it out for a free one)") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _collect_cycles(every=30.0):
    """fit() turns Python's cycle collector off while it trains (the engine makes no cycles),
    and a paused run stays inside fit(); the server's own objects do make cycles, so
    collect them now and then."""
    while True:
        time.sleep(every)
        if not gc.isenabled():
            gc.collect()


def serve(host='127.0.0.1', port=0, open_browser=True):
    """Serve the playground until Ctrl-C; port 0 picks a free port. Prints the URL."""
    import uvicorn

    sock = _listening_socket(host, port)
    port = sock.getsockname()[1]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    app, playground = create_app(allowed_hosts(host, port))

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):  # end the pages' streams too, or they hold it open
            playground.stop()
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(app, log_level='warning', access_log=False, lifespan='off',
                                   timeout_graceful_shutdown=3))
    if not (_is_loopback(host)):
        print("tapegrad playground: warning: serving beyond this machine; anyone who can reach "
              f"{host} can use it (it has no password)", flush=True)
    print(f"tapegrad playground: {url}  (Ctrl-C stops it)", flush=True)
    threading.Thread(target=warm_up, name='warm-up', daemon=True).start()
    threading.Thread(target=_collect_cycles, name='collect-cycles', daemon=True).start()
    if open_browser:
        threading.Timer(0.3, webbrowser.open, [url]).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        playground.stop()
        sock.close()
    print("tapegrad playground: stopped", flush=True)
