"""tapegrad playground: watch a network learn in the browser, down to each gradient.

    tapegrad playground                    serve the page on http://127.0.0.1:<a free port>/
    tapegrad playground --export run.html  train, and write one HTML file that replays it

Modules: settings.py (what the page may ask for, checked), frames.py (what the page draws,
as data), trainer.py (fit() in a thread, paused and stepped from the page; the sweep),
neuron_graph.py (one neuron's Values with data and grad, laid out), server.py (the web
server: Starlette and uvicorn, the `playground` extra), export.py (the static replay),
static/ (the page: plain JavaScript over canvas and SVG).
"""

from .export import export_run, record_run, replay_html, show

__all__ = ['serve', 'export_run', 'record_run', 'replay_html', 'show']


def serve(host='127.0.0.1', port=0, open_browser=True):
    """Serve the playground until Ctrl-C (needs `pip install 'tapegrad[playground]'`)."""
    try:
        from .server import serve as run_server
    except ImportError as error:
        raise ImportError(f"tapegrad playground needs {error.name!r}, which is not installed: "
                          f"pip install 'tapegrad[playground]'") from error
    return run_server(host=host, port=port, open_browser=open_browser)
