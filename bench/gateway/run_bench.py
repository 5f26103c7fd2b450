#!/usr/bin/env python3
"""drux gateway vs LiteLLM's proxy vs direct-to-upstream, in one run (loopback only).

Uses the shared kit (fake upstream, load generator, LiteLLM config, fallback
drill), copied to a temporary folder so the shared copy is never touched:

  1. fake upstream (kit's fake_upstream.py) on a free port;
  2. drux gateway (``drux gateway --workers W``) with bench/gateway/drux.toml.in,
     a gateway key required, and LiteLLM's proxy (``--num_workers W``) with the
     kit's config and a master key: the same public model names, the same
     number of worker processes;
  3. for each scenario and concurrency, direct / drux / LiteLLM back to back
     (interleaved, so machine noise hits all three alike; the gateway not being
     measured is paused with SIGSTOP): throughput, p50/p99, time to first
     content chunk for streams, server CPU ms per request;
  4. the kit's failing-primary drill (503, 404, refused connection, a dead
     member of a group) through both gateways.

Every load run is bounded in time and count. LiteLLM runs from its own venv
(``--py``), never from the project's. Usage:

  python bench/gateway/run_bench.py --py /work/bench-venv/bin/python [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


class Run:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.work = Path(tempfile.mkdtemp(prefix="drux-gwbench-"))
        self.kit = self.work / "kit"
        shutil.copytree(a.kit, self.kit)
        for p in self.kit.iterdir():
            p.chmod(0o755 if p.suffix in (".py", ".sh") else 0o644)
        self.out = Path(a.out) if a.out else HERE / "results" / time.strftime("run_%Y%m%d_%H%M%S")
        self.out.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports = {k: free_port() for k in ("up", "drux", "drux_sdk", "drux_redis", "litellm",
                                               "dead", "redis")}
        self.keys: dict[str, str] = {}
        self.pids: dict[str, int] = {}

    def log(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        with (self.out / "commands.log").open("a") as f:
            f.write(line + "\n")

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.log("+ " + " ".join(cmd))
        logf = (self.out / f"{name}.log").open("wb")
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=self.work,
                                env={**os.environ, **(env or {})}, start_new_session=True)
        self.procs.append(proc)
        self.pids[name] = proc.pid
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)  # our own child's process group
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    # -- servers ---------------------------------------------------------------------------
    def start_upstream(self) -> None:
        up = self.ports["up"]
        proc = self.start("fake_upstream", [self.a.py, str(self.kit / "fake_upstream.py"),
                                            "--port", str(up)])
        if not wait_http(f"http://127.0.0.1:{up}/health", 20, proc):
            raise SystemExit("fake upstream did not start")

    def drux_env(self) -> dict[str, str]:
        return {"DRUX_DATA_DIR": str(self.work / "drux-data"),
                "DRUX_USER_CONFIG": str(self.work / "none.toml"),
                "DRUX_PROJECT_CONFIG": str(self.work / "drux.toml")}

    def start_drux(self, name: str = "drux") -> None:
        """``drux``: the gateway as shipped; ``drux_sdk``: the same with the openai SDK
        adapter instead of the lean OpenAI-wire client (DRUX_GATEWAY_LEAN_OPENAI=false)."""
        text = (HERE / "drux.toml.in").read_text()
        text = text.replace("@UP@", str(self.ports["up"])).replace("@DEAD@", str(self.ports["dead"]))
        (self.work / "drux.toml").write_text(text)
        env = {**os.environ, **self.drux_env()}
        if "drux" not in self.keys:
            # --limits: a key with every limit set high, so each call runs the whole limit path
            # (rate-limit hit, reservation, settle) and none is refused.
            limits = (["--rpm", "1000000", "--tpm", "1000000000", "--budget", "1000000"]
                      if self.a.limits else [])
            made = subprocess.run([self.a.drux, "keys", "create", "bench", *limits], env=env,
                                  check=True, capture_output=True, text=True)
            self.keys["drux"] = made.stdout.strip()
        self.keys[name] = self.keys["drux"]
        port = self.ports[name]
        extra = {"DRUX_GATEWAY_LEAN_OPENAI": "false"} if name == "drux_sdk" else {}
        if name == "drux_redis":  # the same gateway and key, its limits on Redis
            extra = {"DRUX_REDIS_URL": self.redis_url()}
        proc = self.start(name, [self.a.drux, "gateway", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(self.a.workers)], {**self.drux_env(), **extra})
        if not wait_http(f"http://127.0.0.1:{port}/health", 60, proc):
            raise SystemExit(f"{name} did not start; see " + str(self.out / f"{name}.log"))

    def start_litellm(self) -> None:
        cfg = (self.kit / "litellm_config.yaml").read_text()
        cfg = cfg.replace("127.0.0.1:9000", f"127.0.0.1:{self.ports['up']}")
        cfg = cfg.replace("127.0.0.1:9199", f"127.0.0.1:{self.ports['dead']}")
        if self.a.litellm_redis:  # its router's own rpm/tpm tracking, on the same Redis
            cfg = cfg.replace("router_settings:\n", "router_settings:\n  redis_host: 127.0.0.1\n"
                              f"  redis_port: {self.ports['redis']}\n", 1)
        (self.work / "litellm_config.yaml").write_text(cfg)
        env = {}
        for line in (self.kit / "env.sh").read_text().splitlines():
            if line.startswith("export "):
                k, _, v = line[7:].partition("=")
                env[k] = v
        self.keys["litellm"] = env["LITELLM_MASTER_KEY"] = "sk-bench-" + os.urandom(24).hex()
        litellm = str(Path(self.a.py).parent / "litellm")
        port = self.ports["litellm"]
        t0 = time.monotonic()
        proc = self.start("litellm", [litellm, "--config", str(self.work / "litellm_config.yaml"),
                                      "--host", "127.0.0.1", "--port", str(port),
                                      "--num_workers", str(self.a.workers)], env)
        if not wait_http(f"http://127.0.0.1:{port}/health/liveliness", 240, proc):
            raise SystemExit("litellm did not start; see " + str(self.out / "litellm.log"))
        self.log(f"litellm ready after {time.monotonic() - t0:.1f} s")

    # -- measurements ------------------------------------------------------------------------
    @contextmanager
    def only(self, target: str) -> Iterator[None]:
        """Freeze the other gateway (SIGSTOP) while ``target`` is measured, so its idle
        background work is not charged to the target on this two-core machine."""
        paused = [self.pids[g] for g in ("drux", "drux_sdk", "drux_redis", "litellm")
                  if g != target and g in self.pids]
        for pid in paused:
            os.killpg(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in paused:
                os.killpg(pid, signal.SIGCONT)

    def url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.ports['up' if target == 'direct' else target]}/v1/chat/completions"

    def loadgen(self, label: str, target: str, model: str, c: int, stream: bool,
                duration: float, record: bool = True) -> dict[str, object] | None:
        cmd = [self.a.py, str(self.kit / "loadgen.py"), "--url", self.url(target), "--model", model,
               "-c", str(c), "-d", str(duration), "--warmup", str(self.a.warmup),
               "--timeout", "30", "--label", label, "--upstream-pid", str(self.pids["fake_upstream"])]
        if target != "direct":
            cmd += ["--auth", self.keys[target], "--watch-pid", str(self.pids[target])]
        if stream:
            cmd.append("--stream")
        if record:
            cmd += ["--out", str(self.out / "loadgen.jsonl")]
        with self.only(target):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 90)
        if done.returncode != 0:
            self.log(f"loadgen {label} failed: {done.stderr.strip()[-300:]}")
            return None
        res: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        self.log(f"{label}: {res.get('rps')} rps, p50 {res.get('p50_ms')} ms, p99 {res.get('p99_ms')} ms, "
                 f"ttfc {res.get('ttfc_p50_ms', '-')}, cpu/req {res.get('server_cpu_ms_per_req', '-')}, "
                 f"statuses {res.get('statuses')}")
        return res

    def matrix(self, targets: list[str]) -> None:
        scenarios = [("d0", "fake-gpt", "fake-gpt", False, self.a.dur),
                     ("d50", "fake-gpt-delay50", "fake-gpt-50", False, self.a.dur50),
                     ("stream", "fake-gpt", "fake-gpt", True, self.a.dur)]
        for target in targets:  # warm-up: imports, pools, breakers' first samples
            if target != "direct":
                self.loadgen(f"warm_{target}", target, "fake-gpt", 4, False, 2, record=False)
                self.loadgen(f"warm_{target}_s", target, "fake-gpt", 2, True, 1, record=False)
        for name, direct_model, gw_model, stream, duration in scenarios:
            if self.a.scenarios and name not in self.a.scenarios:
                continue
            for c in self.a.conc:
                for target in targets:
                    model = direct_model if target == "direct" else gw_model
                    self.loadgen(f"{target}_{name}_c{c}", target, model, c, stream, duration)

    def fallback(self, target: str) -> None:
        out = self.out / f"fallback_{target}.json"
        cmd = [self.a.py, str(self.kit / "fallback_test.py"),
               "--gw", f"http://127.0.0.1:{self.ports[target]}", "--key", self.keys[target],
               "--up", f"http://127.0.0.1:{self.ports['up']}", "--n", "25", "--n-slow", "3",
               "--gap", "0.2", "--burst-c", "8", "--burst-s", "2", "--out", str(out)]
        self.log("+ fallback drill through " + target)
        with self.only(target):
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            self.log(f"fallback drill {target} failed: {done.stderr.strip()[-300:]}")

    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.ports['redis']}/0"

    def start_redis(self) -> None:
        """A throwaway redis-server on loopback, nothing on disk."""
        port = self.ports["redis"]
        self.start("redis", [shutil.which("redis-server") or "/usr/bin/redis-server", "--port",
                             str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return
            time.sleep(0.2)  # starting up: poll, bounded by the deadline
        raise SystemExit("redis-server did not start")

    def versions(self) -> None:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines()
                      if ln.startswith("Model name")), "?")
        info = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpu_model": model,
                "cpus": os.cpu_count(), "loadavg_start": open("/proc/loadavg").read().split()[:3],
                "workers": self.a.workers, "python": sys.version.split()[0]}
        for venv_py, names in ((self.a.py, ["litellm", "uvicorn", "httptools", "uvloop"]),
                               (str(Path(self.a.drux).parent / "python"),
                                ["uvicorn", "httptools", "uvloop", "orjson"])):
            code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) "
                    f"for p in {names!r}}}))")
            got = subprocess.run([venv_py, "-c", code], capture_output=True, text=True)
            tag = "bench_venv" if venv_py == self.a.py else "drux_venv"
            info[tag] = json.loads(got.stdout) if got.returncode == 0 else got.stderr[-200:]
        (self.out / "versions.json").write_text(json.dumps(info, indent=1))
        self.log(json.dumps(info))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kit", default=str(REPO.parent / "shared" / "bench" / "gateway"))
    ap.add_argument("--py", default="/work/bench-venv/bin/python",
                    help="python of the separate venv with litellm[proxy], httptools, uvloop")
    ap.add_argument("--drux", default=str(REPO / ".venv" / "bin" / "drux"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--conc", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64])
    ap.add_argument("--dur", type=float, default=4.0)
    ap.add_argument("--dur50", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--skip-litellm", action="store_true")
    ap.add_argument("--skip-fallback", action="store_true")
    ap.add_argument("--with-sdk", action="store_true",
                    help="also measure drux with the openai SDK adapter instead of the lean client")
    ap.add_argument("--limits", action="store_true",
                    help="drux's key has rpm, tpm and budget (set high: none is refused)")
    ap.add_argument("--redis", action="store_true",
                    help="also drux with its limits on a throwaway Redis (target drux_redis)")
    ap.add_argument("--litellm-redis", action="store_true",
                    help="LiteLLM's router_settings point at the throwaway Redis")
    ap.add_argument("--scenarios", type=lambda s: s.split(","), default=[],
                    help="only these of d0,d50,stream")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    run = Run(a)
    try:
        run.versions()
        run.start_upstream()
        if a.redis or a.litellm_redis:
            run.start_redis()
        run.start_drux()
        targets = ["direct", "drux"]
        if a.redis:
            run.start_drux("drux_redis")
            targets.append("drux_redis")
        if a.with_sdk:
            run.start_drux("drux_sdk")
            targets.append("drux_sdk")
        if not a.skip_litellm:
            run.start_litellm()
            targets.append("litellm")
        run.matrix(targets)
        if not a.skip_fallback:
            for target in targets[1:]:
                run.fallback(target)
    finally:
        run.stop_all()
        shutil.rmtree(run.work, ignore_errors=True)
    subprocess.run([sys.executable, str(HERE / "summarize.py"), str(run.out)], check=False)
    print("results:", run.out)


if __name__ == "__main__":
    main()
