"""Start and stop real Prometheus, Alertmanager and PostgreSQL servers for tests.

Plain helper module (no pytest dependency, stdlib only) used by ``conftest.py``.
Every server binds to 127.0.0.1 on a free port, keeps its state in a private temp
directory and is stopped (terminate, then kill) and cleaned up on ``stop()``,
on leaving a ``with`` block, and as a last resort at interpreter exit.

    with PrometheusServer(rule_files=[Path("rules.yml")]) as prom:
        prom.rules()            # /api/v1/rules "data"
        prom.query("up")        # /api/v1/query "data"

    with AlertmanagerServer(config_yaml) as am:
        am.post_alerts([{"labels": {"alertname": "X"}}])
        am.alerts()

    with PostgresServer() as pg:
        pg.url   # postgresql+psycopg://owner:PW@127.0.0.1:PORT/ownership
        pg.dsn   # postgresql://owner:PW@127.0.0.1:PORT/ownership
"""

from __future__ import annotations

import atexit
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

PROMETHEUS_BIN = "/usr/bin/prometheus"
PROMTOOL_BIN = "/usr/bin/promtool"
ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager"
AMTOOL_BIN = "/usr/bin/amtool"

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.05

DEFAULT_PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 15s
  evaluation_interval: 1s
"""

DEFAULT_ALERTMANAGER_CONFIG = """\
route:
  receiver: default
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: default
"""


class ServerError(RuntimeError):
    """A server failed to start or answered an API call with an error."""


class _PortClash(Exception):
    """The server could not bind the port picked by free_port(); try another."""


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(
    method: str,
    url: str,
    body: Any = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    """Small stdlib HTTP client: returns (status, body); never raises on HTTP errors."""
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _json(method: str, url: str, body: Any = None) -> Any:
    status, raw = _http(method, url, body)
    if status >= 300:
        raise ServerError(f"{method} {url} -> HTTP {status}: {raw.decode(errors='replace')}")
    return json.loads(raw) if raw.strip() else None


def _preexec(death_signal: int, uid: int | None = None, gid: int | None = None):
    """preexec_fn: optionally drop to uid/gid, then ask the kernel to send
    ``death_signal`` to the child if the Python (pytest) process dies.

    PR_SET_PDEATHSIG is best effort: the kernel clears it on exec after a uid
    switch, which is why every server also gets a watchdog (see _WATCHDOG).
    """

    def _fn() -> None:
        if uid is not None:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                libc.prctl(1, int(death_signal), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
            except Exception:
                pass

    return _fn


# Runs in a separate (root/current-user) process per server.  It blocks on a pipe
# whose only write end is held by the test process: EOF means the test process
# died without cleaning up (SIGKILL, CI timeout...), so kill the server and remove
# its temp dir.  On a normal stop() the watchdog is killed first and does nothing.
# (Needed because PR_SET_PDEATHSIG does not survive exec after a uid switch.)
_WATCHDOG = r"""
import os, shutil, signal, sys, time
sig, tmpdir = int(sys.argv[1]), sys.argv[2]
signal.signal(signal.SIGINT, signal.SIG_IGN)
pids = [int(line) for line in sys.stdin.buffer.read().split()]
def alive(pid):
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
for pid in pids:
    try:
        os.kill(pid, sig)
    except OSError:
        pass
deadline = time.monotonic() + 15
while any(alive(p) for p in pids) and time.monotonic() < deadline:
    time.sleep(0.1)
for pid in pids:
    if alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
time.sleep(0.2)
shutil.rmtree(tmpdir, ignore_errors=True)
"""


def _tail(path: Path, max_chars: int = 20000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<could not read {path}: {exc}>"
    return text[-max_chars:]


class _ProcessServer:
    """Common life cycle: temp dir, log file, Popen, readiness polling, shutdown."""

    name = "server"
    stop_signal = signal.SIGTERM
    # Sent by the kernel to the server if the Python process dies without cleanup.
    death_signal = signal.SIGKILL

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.tmpdir: Path | None = None
        self.port: int | None = None
        self.log_path: Path | None = None
        self._log_file = None
        self._watchdog: subprocess.Popen | None = None

    # -- context manager -------------------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- life cycle ------------------------------------------------------------------
    def _make_tmpdir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"ownership-test-{self.name}-"))

    def _setup_tmpdir(self) -> Path:
        """Create the temp dir and a watchdog that cleans it up if we get killed."""
        self.tmpdir = self._make_tmpdir()
        atexit.register(self.stop)
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(int(self.death_signal)), str(self.tmpdir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # not hit by a Ctrl-C / SIGTERM to our process group
            )
        except OSError:
            self._watchdog = None
        return self.tmpdir

    def _spawn(self, argv: list[str], uid: int | None = None, gid: int | None = None, env: dict | None = None) -> None:
        assert self.tmpdir is not None
        self.log_path = self.tmpdir / f"{self.name}.log"
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=str(self.tmpdir),
            env=env,
            preexec_fn=_preexec(self.death_signal, uid, gid),
        )
        if self._watchdog is not None and self._watchdog.stdin is not None:
            try:
                self._watchdog.stdin.write(f"{self.proc.pid}\n".encode())
                self._watchdog.stdin.flush()
            except OSError:
                pass

    def _launch(self, make_argv, ready, what: str = "ready", attempts: int = 3, **spawn_kwargs) -> None:
        """Pick a free port, spawn ``make_argv()`` and wait for ``ready()``.

        Retries with a new port if the server lost the free_port() race.
        """
        for attempt in range(attempts):
            self.port = free_port()
            self._spawn(make_argv(), **spawn_kwargs)
            try:
                self._wait_until(ready, what, retry_port_clash=attempt + 1 < attempts)
                return
            except _PortClash:
                self.proc = None
                if self._log_file is not None:
                    self._log_file.close()
                    self._log_file = None

    def _wait_until(self, check, what: str, timeout: float = START_TIMEOUT, retry_port_clash: bool = False) -> None:
        """Poll ``check()`` until truthy; fail early if the process died."""
        deadline = time.monotonic() + timeout
        last_exc: BaseException | None = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                if retry_port_clash and "address already in use" in self.log.lower():
                    raise _PortClash()
                self._fail(f"{self.name} exited with code {self.proc.returncode} before {what}")
            try:
                if check():
                    return
            except Exception as exc:  # connection refused etc. while starting up
                last_exc = exc
            time.sleep(POLL_INTERVAL)
        self._fail(f"{self.name} not {what} after {timeout:.0f}s (last error: {last_exc!r})")

    def _fail(self, message: str) -> None:
        log = _tail(self.log_path) if self.log_path else "<no log>"
        print(
            f"\n===== {self.name} log ({self.log_path}) =====\n{log}\n===== end of {self.name} log =====",
            file=sys.stderr,
        )
        self.stop()
        raise ServerError(f"{message}\n--- {self.name} log (tail) ---\n{log[-4000:]}")

    def _http_ready(self, url: str) -> bool:
        status, _ = _http("GET", url, timeout=2.0)
        return status == 200

    def _stop_watchdog(self) -> None:
        wd, self._watchdog = self._watchdog, None
        if wd is None:
            return
        if wd.poll() is None:
            wd.kill()
        wd.wait(timeout=STOP_TIMEOUT)
        if wd.stdin is not None:
            wd.stdin.close()

    def _terminate(self) -> None:
        self._stop_watchdog()
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.send_signal(self.stop_signal)
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
            except ProcessLookupError:
                pass
        self.proc = None

    def stop(self) -> None:
        """Stop the server and remove its temp dir. Safe to call more than once."""
        try:
            self._terminate()
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            if self.tmpdir is not None:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
                self.tmpdir = None
            try:
                atexit.unregister(self.stop)
            except Exception:
                pass

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log(self) -> str:
        """Current server log (stdout+stderr)."""
        return _tail(self.log_path) if self.log_path else ""


# --------------------------------------------------------------------------- Prometheus


class PrometheusServer(_ProcessServer):
    """A real Prometheus on 127.0.0.1:<free port> with lifecycle API enabled.

    ``config_yaml`` may contain scrape configs etc. but must not contain a
    ``rule_files:`` key when ``rule_files`` is given: the copied rule files are
    appended as ``rule_files:`` to the written config.  With ``config_yaml=None``
    a minimal global config (evaluation_interval: 1s) is used.
    """

    name = "prometheus"

    def __init__(
        self,
        config_yaml: str | None = None,
        rule_files: list[Path] | tuple[Path, ...] = (),
        extra_args: list[str] | tuple[str, ...] = (),
        binary: str = PROMETHEUS_BIN,
    ) -> None:
        super().__init__()
        self.binary = binary
        self.extra_args = list(extra_args)
        self._config_yaml = config_yaml
        self._rule_files = [Path(p) for p in rule_files]
        self.config_path: Path | None = None

    def write_config(
        self,
        config_yaml: str | None = None,
        rule_files: list[Path] | tuple[Path, ...] | None = None,
    ) -> Path:
        """(Re)write prometheus.yml; call ``reload()`` afterwards on a running server.

        ``rule_files=None`` keeps the current rule files, ``[]`` removes them.
        """
        assert self.tmpdir is not None, "server not started"
        if config_yaml is not None:
            self._config_yaml = config_yaml
        if rule_files is not None:
            self._rule_files = [Path(p) for p in rule_files]
        rules_dir = self.tmpdir / "rules"
        shutil.rmtree(rules_dir, ignore_errors=True)
        rules_dir.mkdir()
        copied = []
        for i, src in enumerate(self._rule_files):
            dst = rules_dir / f"{i:03d}-{src.name}"
            shutil.copyfile(src, dst)
            copied.append(dst)
        text = self._config_yaml if self._config_yaml is not None else DEFAULT_PROMETHEUS_CONFIG
        if not text.endswith("\n"):
            text += "\n"
        if copied:
            text += "rule_files:\n" + "".join(f"  - {json.dumps(str(p))}\n" for p in copied)
        self.config_path = self.tmpdir / "prometheus.yml"
        self.config_path.write_text(text)
        return self.config_path

    def start(self) -> PrometheusServer:
        if self.running:
            return self
        if not os.access(self.binary, os.X_OK):
            raise ServerError(f"{self.binary} not found")
        self._setup_tmpdir()
        try:
            self.write_config()
            (self.tmpdir / "data").mkdir()
        except BaseException:
            self.stop()
            raise
        self._launch(
            lambda: [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.tmpdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
                *self.extra_args,
            ],
            lambda: self._http_ready(f"{self.url}/-/ready"),
        )
        return self

    @property
    def url(self) -> str | None:
        """http://127.0.0.1:PORT (None before start)."""
        return f"http://127.0.0.1:{self.port}" if self.port else None

    # -- API -------------------------------------------------------------------------
    def reload(self) -> None:
        """POST /-/reload; raises ServerError if Prometheus rejects the config."""
        status, raw = _http("POST", f"{self.url}/-/reload", timeout=30.0)
        if status != 200:
            raise ServerError(f"prometheus reload failed: HTTP {status}: {raw.decode(errors='replace')}")

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>; returns the ``data`` member of the response."""
        qs = ("?" + urllib.parse.urlencode(params)) if params else ""
        body = _json("GET", f"{self.url}/api/v1/{path.lstrip('/')}{qs}")
        if body.get("status") != "success":
            raise ServerError(f"prometheus /api/v1/{path} failed: {body}")
        return body["data"]

    def query(self, promql: str, **params: Any) -> Any:
        """Instant query; returns ``data`` ({"resultType": ..., "result": [...]})."""
        return self.api("query", query=promql, **params)

    def rules(self, **params: Any) -> Any:
        """GET /api/v1/rules ``data`` ({"groups": [...]})."""
        return self.api("rules", **params)

    def alerts(self) -> list[dict]:
        """GET /api/v1/alerts ``data.alerts``."""
        return self.api("alerts")["alerts"]


# --------------------------------------------------------------------------- Alertmanager


class AlertmanagerServer(_ProcessServer):
    """A real Alertmanager on 127.0.0.1:<free port>, clustering disabled."""

    name = "alertmanager"

    def __init__(
        self,
        config_yaml: str | None = None,
        extra_args: list[str] | tuple[str, ...] = (),
        binary: str = ALERTMANAGER_BIN,
    ) -> None:
        super().__init__()
        self.binary = binary
        self.extra_args = list(extra_args)
        self._config_yaml = config_yaml
        self.config_path: Path | None = None

    def write_config(self, config_yaml: str | None = None) -> Path:
        """(Re)write alertmanager.yml; call ``reload()`` afterwards on a running server."""
        assert self.tmpdir is not None, "server not started"
        if config_yaml is not None:
            self._config_yaml = config_yaml
        self.config_path = self.tmpdir / "alertmanager.yml"
        self.config_path.write_text(self._config_yaml or DEFAULT_ALERTMANAGER_CONFIG)
        return self.config_path

    def start(self) -> AlertmanagerServer:
        if self.running:
            return self
        if not os.access(self.binary, os.X_OK):
            raise ServerError(f"{self.binary} not found")
        self._setup_tmpdir()
        try:
            self.write_config()
            (self.tmpdir / "data").mkdir()
        except BaseException:
            self.stop()
            raise
        self._launch(
            lambda: [
                self.binary,
                f"--config.file={self.config_path}",
                f"--storage.path={self.tmpdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                *self.extra_args,
            ],
            lambda: self._http_ready(f"{self.url}/-/ready"),
        )
        return self

    @property
    def url(self) -> str | None:
        """http://127.0.0.1:PORT (None before start)."""
        return f"http://127.0.0.1:{self.port}" if self.port else None

    # -- API -------------------------------------------------------------------------
    def reload(self) -> None:
        status, raw = _http("POST", f"{self.url}/-/reload", timeout=30.0)
        if status != 200:
            raise ServerError(f"alertmanager reload failed: HTTP {status}: {raw.decode(errors='replace')}")

    def status(self) -> dict:
        """GET /api/v2/status (``config.original`` holds the loaded YAML)."""
        return _json("GET", f"{self.url}/api/v2/status")

    def alerts(self, **params: Any) -> list[dict]:
        """GET /api/v2/alerts (each alert has ``receivers: [{"name": ...}]``)."""
        qs = ("?" + urllib.parse.urlencode(params, doseq=True)) if params else ""
        return _json("GET", f"{self.url}/api/v2/alerts{qs}")

    def post_alerts(self, alerts: list[dict]) -> None:
        """POST /api/v2/alerts with a list of {"labels": {...}, "annotations": {...}, ...}."""
        _json("POST", f"{self.url}/api/v2/alerts", alerts)


# --------------------------------------------------------------------------- PostgreSQL


def find_pg_bindir() -> Path | None:
    """Newest /usr/lib/postgresql/<ver>/bin containing initdb, or pg_config's bindir."""

    def version(p: str) -> float:
        try:
            return float(Path(p).parent.parent.name)
        except ValueError:
            return 0.0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version, reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


class PostgresServer(_ProcessServer):
    """A real PostgreSQL with pg_stat_statements, password auth on 127.0.0.1.

    Unix-socket connections (socket in the data dir's parent) use ``trust`` and are
    only used internally for setup; TCP on 127.0.0.1 uses scram-sha-256, so a wrong
    password really fails.  When running as root, initdb and postgres run as the
    ``postgres`` OS user (initdb refuses root) in a /tmp dir chowned to it.
    """

    name = "postgres"
    # SIGINT = "fast" shutdown (SIGTERM would be "smart" and wait for clients).
    stop_signal = signal.SIGINT
    death_signal = signal.SIGQUIT  # immediate shutdown, takes the backends along

    def __init__(
        self,
        user: str = "owner",
        dbname: str = "ownership",
        password: str | None = None,
        extra_args: list[str] | tuple[str, ...] = (),
        bindir: Path | str | None = None,
        os_user: str = "postgres",
    ) -> None:
        super().__init__()
        self.user = user
        self.dbname = dbname
        self.password = password or secrets.token_hex(16)
        self.extra_args = list(extra_args)
        self.bindir = Path(bindir) if bindir else find_pg_bindir()
        self.host = "127.0.0.1"
        self.os_user = os_user if os.geteuid() == 0 else None
        self.datadir: Path | None = None
        self.socket_dir: Path | None = None

    # -- process helpers -------------------------------------------------------------
    def _pg_env(self) -> dict:
        env = dict(os.environ, LC_ALL="C")
        if self.os_user is not None:
            env.update(HOME=str(self.tmpdir), USER=self.os_user, LOGNAME=self.os_user)
        return env

    def _pg_ids(self) -> tuple[int | None, int | None]:
        if self.os_user is None:
            return None, None
        pw = pwd.getpwnam(self.os_user)
        return pw.pw_uid, pw.pw_gid

    def _run(self, argv: list[str], what: str) -> str:
        """Run a short-lived PostgreSQL tool as the postgres OS user (when root)."""
        uid, gid = self._pg_ids()
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=str(self.tmpdir),
            timeout=120,
            env=self._pg_env(),
            preexec_fn=_preexec(signal.SIGKILL, uid, gid),
        )
        if proc.returncode != 0:
            raise ServerError(
                f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc.stdout

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as the bootstrap superuser over the unix socket (trust auth)."""
        assert self.bindir is not None and self.socket_dir is not None
        return self._run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                dbname,
                "-c",
                sql,
            ],
            "psql",
        )

    @staticmethod
    def _quote_ident(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    @staticmethod
    def _quote_literal(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    # -- life cycle ------------------------------------------------------------------
    def _make_tmpdir(self) -> Path:
        # Not pytest's tmp_path: that is root-only (0700) and postgres could not enter it.
        path = Path(tempfile.mkdtemp(prefix="ownership-test-postgres-", dir="/tmp"))
        if self.os_user is not None:
            pw = pwd.getpwnam(self.os_user)
            os.chown(path, pw.pw_uid, pw.pw_gid)
        return path

    def start(self) -> PostgresServer:
        if self.running:
            return self
        if self.bindir is None or not (self.bindir / "initdb").exists():
            raise ServerError("PostgreSQL initdb not found (/usr/lib/postgresql/*/bin/initdb)")
        self._setup_tmpdir()
        try:
            self.datadir = self.tmpdir / "data"
            self.socket_dir = self.tmpdir
            self._run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                "initdb",
            )
            # initdb wrote "host all all 127.0.0.1/32 scram-sha-256" (and ::1);
            # make sure nothing else lets TCP clients in without a password.
            hba = self.datadir / "pg_hba.conf"
            hba.write_text(
                "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n"
            )
        except BaseException:
            self.stop()
            raise
        uid, gid = self._pg_ids()
        self._launch(
            lambda: [
                str(self.bindir / "postgres"),
                "-D",
                str(self.datadir),
                "-k",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-c",
                f"listen_addresses={self.host}",
                "-c",
                "shared_preload_libraries=pg_stat_statements",
                "-c",
                "pg_stat_statements.track=all",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "password_encryption=scram-sha-256",
                *self.extra_args,
            ],
            self._accepting,
            "accepting connections",
            uid=uid,
            gid=gid,
            env=self._pg_env(),
        )
        try:
            user, db = self._quote_ident(self.user), self._quote_ident(self.dbname)
            self.psql(f"CREATE ROLE {user} LOGIN SUPERUSER PASSWORD {self._quote_literal(self.password)}")
            self.psql(f"CREATE DATABASE {db} OWNER {user}")
            self.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", dbname=self.dbname)
        except ServerError as exc:
            self._fail(f"postgres setup failed: {exc}")
        except BaseException:
            self.stop()
            raise
        return self

    def _accepting(self) -> bool:
        proc = subprocess.run(
            [str(self.bindir / "pg_isready"), "-q", "-h", self.host, "-p", str(self.port), "-t", "1"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
        )
        return proc.returncode == 0

    # -- connection strings ----------------------------------------------------------
    def dsn_for(self, user: str, password: str, dbname: str | None = None, scheme: str = "postgresql") -> str:
        q = urllib.parse.quote
        return f"{scheme}://{q(user, safe='')}:{q(password, safe='')}@{self.host}:{self.port}/{q(dbname or self.dbname, safe='')}"

    @property
    def dsn(self) -> str:
        """libpq/psycopg URL: postgresql://owner:PW@127.0.0.1:PORT/ownership"""
        return self.dsn_for(self.user, self.password)

    @property
    def url(self) -> str:
        """SQLAlchemy URL: postgresql+psycopg://owner:PW@127.0.0.1:PORT/ownership"""
        return self.dsn_for(self.user, self.password, scheme="postgresql+psycopg")

    def create_role(
        self,
        name: str,
        password: str | None = None,
        superuser: bool = False,
        grant_db: bool = True,
    ) -> str:
        """Create (or re-password) a LOGIN role; returns its postgresql:// DSN.

        With ``grant_db`` the role gets CONNECT and pg_read_all_stats (needed to see
        other roles' query texts in pg_stat_statements).
        """
        password = password or secrets.token_hex(16)
        ident = self._quote_ident(name)
        attrs = "LOGIN SUPERUSER" if superuser else "LOGIN NOSUPERUSER"
        exists = self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = {self._quote_literal(name)}").strip()
        verb = "ALTER" if exists else "CREATE"
        self.psql(f"{verb} ROLE {ident} {attrs} PASSWORD {self._quote_literal(password)}")
        if grant_db:
            self.psql(f"GRANT CONNECT ON DATABASE {self._quote_ident(self.dbname)} TO {ident}")
            self.psql(f"GRANT pg_read_all_stats TO {ident}")
        return self.dsn_for(name, password)


# --------------------------------------------------------------------------- CLI checks


def _run_tool(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def promtool_check_rules(path: Path | str, promtool: str = PROMTOOL_BIN) -> tuple[bool, int | None, str]:
    """``promtool check rules PATH`` -> (ok, number of rules found or None, output)."""
    proc = _run_tool([promtool, "check", "rules", str(path)])
    output = proc.stdout + proc.stderr
    counts = [int(n) for n in re.findall(r"SUCCESS:\s*(\d+)\s+rules?\s+found", output)]
    count = sum(counts) if counts else None
    return proc.returncode == 0, count, output


def amtool_check_config(path: Path | str, amtool: str = AMTOOL_BIN) -> tuple[bool, str]:
    """``amtool check-config PATH`` -> (ok, output)."""
    proc = _run_tool([amtool, "check-config", str(path)])
    return proc.returncode == 0, proc.stdout + proc.stderr


def amtool_routes_test(config_path: Path | str, labels: dict[str, str], amtool: str = AMTOOL_BIN) -> list[str]:
    """``amtool config routes test --config.file F k=v ...`` -> matched receiver names.

    Raises ServerError if amtool fails (e.g. invalid config).
    """
    argv = [amtool, "config", "routes", "test", f"--config.file={config_path}"]
    argv += [f"{k}={v}" for k, v in labels.items()]
    proc = _run_tool(argv)
    if proc.returncode != 0:
        raise ServerError(f"amtool routes test failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return [name.strip() for name in line.split(",") if name.strip()]
