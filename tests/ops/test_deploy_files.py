"""The deployment files say the same thing: the Procfile (run by `make run-prod`, so tested for real
by test_production_shape), the systemd units and docker-compose.yml (written, not run here: no Docker
engine, no systemd as PID 1) start the same commands, restart them, and run exactly one beat."""

import configparser
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"


def _procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name] = shlex.split(command)
    return entries


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # keep systemd's key case
    unit.read(SYSTEMD / name)
    return unit


def _program(argv: list[str]) -> list[str]:
    """A command without its interpreter path and bind option, for comparing across the files."""
    argv = [Path(argv[0]).name, *argv[1:]]
    return [arg for arg in argv if not arg.startswith(("--bind", "${BIND", "0.0.0.0:", "--hostname", "worker%i"))]


def test_systemd_units_run_the_procfile_commands_and_restart_them():
    procfile = _procfile()
    for process, unit_name in (("web", "parley-web.service"), ("worker", "parley-worker@.service"),
                               ("beat", "parley-beat.service")):  # fmt: skip
        service = _unit(unit_name)["Service"]
        assert _program(shlex.split(service["ExecStart"])) == _program(procfile[process])
        assert service["Restart"] == "always"
        assert service["RestartPreventExitStatus"] == "78"  # the SECRET_KEY refusal does not loop
        assert service["User"] == "parley"
    assert _unit("parley.target")["Unit"]["Wants"].split().count("parley-beat.service") == 1


def test_compose_runs_postgres_redis_web_worker_and_one_beat_with_restart_policies():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(services)
    procfile = _procfile()
    for process in ("worker", "beat"):
        assert _program(services[process]["command"]) == _program(procfile[process])
    assert services["beat"]["deploy"]["replicas"] == 1
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert services[name]["restart"] == "unless-stopped"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "SECRET_KEY" in services["web"]["environment"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    web_command = dockerfile.split("CMD [", 2)[-1]
    assert _program([*yaml.safe_load("[" + web_command)]) == _program(procfile["web"])
