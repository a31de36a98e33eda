"""Helpers for tests/test_browser.py: headless Chromium through Playwright's Python package
(Debian's ``chromium``, no browser download), a static server for the built site, a JupyterLab
server on 127.0.0.1, and a log of what each page requested and printed."""
from __future__ import annotations

import contextlib
import functools
import http.server
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "screenshots"
LOCAL_HOSTS = {"127.0.0.1"}


def chromium_path() -> str | None:
    """The system Chromium (Debian's ``chromium``), or ``$COURSE_CHROMIUM``."""
    for name in (os.environ.get("COURSE_CHROMIUM"), "chromium", "chromium-browser",
                 "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def require_browser():
    """Skip the calling test, with the reason, unless Playwright and a Chromium are installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright's Python package is not installed (pip install playwright); "
                    "no browser test")
    if chromium_path() is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium); no browser test")


@contextlib.contextmanager
def chromium():
    """A headless Chromium (Playwright's sync API) launched from the system's executable."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no access log on stderr
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 (a free port) from a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class PageLog:
    """Everything a page asked for and complained about, from the browser's own events.

    ``requests``: every URL requested (``page.on("request")``); ``external``: those whose host is
    not 127.0.0.1 (aborted, so no test waits on a network that CI does not have);
    ``failed``: local requests that failed or answered >= 400; ``console_errors``: console
    messages of type error and uncaught page errors.
    """

    IGNORED = ("/favicon.ico",)

    def __init__(self, page):
        self.requests: list[str] = []
        self.external: list[str] = []
        self.failed: list[str] = []
        self.console_errors: list[str] = []
        page.on("request", self._on_request)
        page.on("requestfailed", lambda r: self._fail(r.url, r.failure))
        page.on("response", lambda r: r.status >= 400 and self._fail(r.url, r.status))
        page.on("console", lambda m: m.type == "error" and self._console(m))
        page.on("pageerror", lambda e: self.console_errors.append(f"page error: {e}"))
        page.route("**/*", self._route)

    @staticmethod
    def is_local(url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob", "about") or parts.hostname in LOCAL_HOSTS

    def _on_request(self, request):
        self.requests.append(request.url)
        if not self.is_local(request.url):
            self.external.append(request.url)

    def _route(self, route):
        if self.is_local(route.request.url):
            route.continue_()
        else:
            route.abort()

    def _fail(self, url, why):
        if self.is_local(url) and not url.endswith(self.IGNORED):
            self.failed.append(f"{url}: {why}")

    def _console(self, message):
        text = message.text
        url = (message.location or {}).get("url", "")
        if any(url.endswith(s) for s in self.IGNORED) or "favicon.ico" in text:
            return
        self.console_errors.append(f"{text} ({url})")


def shot(page, name: str, **kwargs) -> Path:
    """A screenshot of the page (or of ``locator=``) in build/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    locator = kwargs.pop("locator", None)
    (locator or page).screenshot(path=str(path), **kwargs)
    return path


def jupyter_env(workdir: Path) -> dict:
    """The environment of a JupyterLab server and its kernels: offline, live widgets (no CI or
    runner variable, which would make course_utils.viewer draw one static figure), Jupyter's
    config, data and runtime folders inside ``workdir`` (no user settings, no workspace)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "COURSE_STATIC", "COURSE_CLAIMS_FILE", "COURSE_SMOKE",
                        "COURSE_PROFILE", "COURSE_SEED", "JUPYTER_CONFIG_DIR",
                        "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
               TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1",
               JUPYTER_CONFIG_DIR=str(workdir / ".jupyter-config"),
               JUPYTER_RUNTIME_DIR=str(workdir / ".jupyter-runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(workdir / ".jupyter-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(workdir / ".jupyter-workspaces"))
    # No "would you like news?" toast, no update check: nothing asks to leave 127.0.0.1.
    settings = workdir / ".jupyter-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    return env


@contextlib.contextmanager
def jupyterlab(root: Path, timeout: float = 120.0):
    """JupyterLab on 127.0.0.1 (free port, random token) serving ``root``; yields
    ``(base_url, token)``. Its log goes to ``root/jupyterlab.log``; stopped on exit."""
    token = secrets.token_hex(16)
    port = free_port()
    log = open(root / "jupyterlab.log", "wb")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--port-retries=0", f"--ServerApp.root_dir={root}",
           f"--IdentityProvider.token={token}", "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:   # CI containers run as root
        cmd.append("--allow-root")
    proc = subprocess.Popen(cmd, cwd=root, env=jupyter_env(root), stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}: "
                                   f"{(root / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}api/status?token={token}", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not answer on {base} in {timeout:.0f} s")
                time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
