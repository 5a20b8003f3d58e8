"""The deployment files name only what exists: images and build targets of the Dockerfile, the
port it exposes, settings the runtime reads, sub-commands the CLI has, the health route, and
secrets from a Secret or the environment (never a literal token).

Parsed with PyYAML as Docker Compose and Kubernetes would read them (anchors resolved).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from bot.channels.web import routes
from bot.cli import build_parser
from bot.settings import PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = (ROOT / "Dockerfile").read_text()
OUR_IMAGES = {"supportbot": "runtime", "supportbot-train": "train"}  # image -> Dockerfile target


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def kubernetes() -> list[dict]:
    documents = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def containers() -> Iterator[tuple[str, dict]]:
    """Every container of every workload: (where, container)."""
    for doc in kubernetes():
        spec = doc.get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {})
        for container in template.get("spec", {}).get("containers", []):
            yield f"{doc['kind']} {doc['metadata']['name']}", container
    for name, service in compose()["services"].items():
        env = service.get("environment", {})
        yield f"compose {name}", {"image": service["image"], "command": service.get("command"),
                                  "env": [{"name": k, "value": v} for k, v in env.items()]}


def settings_variables() -> set[str]:
    return {PREFIX + field.name.upper() for field in fields(Settings)}


def test_the_files_parse_and_name_the_parts_the_design_asks_for() -> None:
    services = compose()["services"]
    assert {"db", "migrate", "bot-1", "bot-2", "proxy"} <= set(services)
    assert services["bot-1"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    kinds = {(doc["kind"], doc["metadata"]["name"]) for doc in kubernetes()}
    assert {("Deployment", "supportbot"), ("Service", "supportbot"), ("Job", "supportbot-migrate"),
            ("CronJob", "supportbot-retrain"), ("HorizontalPodAutoscaler", "supportbot"),
            ("Secret", "supportbot-secrets"), ("PersistentVolumeClaim", "supportbot-data")} <= kinds


def test_images_are_the_dockerfiles_targets_or_pinned_well_known_ones() -> None:
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE, re.MULTILINE))
    for where, container in containers():
        name, _, tag = container["image"].partition(":")
        if name in OUR_IMAGES:
            assert OUR_IMAGES[name] in targets, where
        else:
            assert tag and tag != "latest", f"{where}: pin {name} to a version"
    build = compose()["services"]["bot-1"]["build"]
    assert build["target"] in targets and (DEPLOY / build["context"] / "Dockerfile").is_file()


@pytest.mark.parametrize("where,command", [(w, c["command"]) for w, c in containers()
                                           if c.get("command") and c["command"][0] == "supportbot"])
def test_every_command_is_a_supportbot_sub_command(where: str, command: list[str]) -> None:
    try:
        build_parser().parse_args(command[1:])
    except SystemExit as error:
        raise AssertionError(f"{where}: `{' '.join(command)}` is not a command supportbot has") from error


def test_the_retraining_job_runs_on_the_training_image() -> None:
    (job,) = [c for where, c in containers() if where == "CronJob supportbot-retrain"]
    assert job["command"] == ["supportbot", "retrain"] and job["image"].startswith("supportbot-train:")


def test_every_setting_named_is_one_the_runtime_reads_and_secrets_are_never_literal() -> None:
    known = settings_variables()
    secrets = {doc["metadata"]["name"]: set(doc["stringData"]) for doc in kubernetes() if doc["kind"] == "Secret"}
    for where, container in containers():
        for variable in container.get("env", []):
            name = variable["name"]
            if name.startswith(PREFIX):
                assert name in known, f"{where}: {name} is not a setting (bot/settings.py)"
            if not _secret(name):
                continue
            if where.startswith("compose"):  # from the shell's environment, or a URL without a password
                value = str(variable["value"])
                assert value.startswith("${") or (name == "SUPPORTBOT_DB" and make_url(value).password is None), \
                    f"{where}: {name} must come from the environment"
            else:
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                assert ref and ref["key"] in secrets.get(ref["name"], set()), f"{where}: {name} must come from a Secret"


def _secret(name: str) -> bool:
    return name.endswith(("TOKEN", "SECRET", "PASSWORD")) or name == "SUPPORTBOT_DB"


def test_ports_and_health_checks_match_the_image_and_the_app() -> None:
    exposed = int(re.search(r"^EXPOSE (\d+)$", DOCKERFILE, re.MULTILINE).group(1))
    assert f"SUPPORTBOT_PORT={exposed}" in DOCKERFILE.replace(" ", "")
    health = {(route.method, route.path) for route in routes if hasattr(route, "path")}
    assert {("GET", "/healthz"), ("GET", "/readyz")} <= health
    (deployment,) = [doc for doc in kubernetes() if doc["kind"] == "Deployment"]
    (bot,) = deployment["spec"]["template"]["spec"]["containers"]
    assert [p["containerPort"] for p in bot["ports"]] == [exposed]
    assert {e["name"]: e.get("value") for e in bot["env"]}["SUPPORTBOT_PORT"] == str(exposed)
    assert bot["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": bot["ports"][0]["name"]}
    for probe in ("livenessProbe", "startupProbe"):  # a database outage must not restart the replicas
        assert bot[probe]["httpGet"] == {"path": "/healthz", "port": bot["ports"][0]["name"]}
    (service,) = [doc for doc in kubernetes() if doc["kind"] == "Service"]
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["ports"][0]["targetPort"] == bot["ports"][0]["name"]
    (hpa,) = [doc for doc in kubernetes() if doc["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


def test_the_compose_proxy_config_points_at_the_replicas() -> None:
    services = compose()["services"]
    (mount,) = services["proxy"]["volumes"]
    config = DEPLOY / mount.split(":")[0]
    text = config.read_text()
    servers = re.findall(r"^\s+server (\S+) (\S+):(\d+) ", text, re.MULTILINE)
    assert {(host, int(port)) for _, host, port in servers} == {("bot-1", 8080), ("bot-2", 8080)}
    assert "option httpchk GET /readyz" in text and "retry-on conn-failure" in text
    proxy_ip = services["proxy"]["networks"]["default"]["ipv4_address"]
    assert services["bot-1"]["environment"]["SUPPORTBOT_TRUSTED_PROXIES"] == proxy_ip
