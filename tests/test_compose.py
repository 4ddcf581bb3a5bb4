"""docker-compose.yml parses and has every service the README names."""

import re

import yaml

from tests.helpers import ROOT


def test_compose_names_every_service_the_readme_names():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = set(compose["services"])
    readme = (ROOT / "README.md").read_text()
    line = next(li for li in readme.split("\n\n") if "docker-compose.yml` runs" in li)
    named = set(re.findall(r"`(\w+)`", line.split("services", 1)[1]))
    named &= {"postgres", "redis", "worker", "beat", "app", "cli"} | services
    assert named == services == {"postgres", "redis", "worker", "beat", "app", "cli"}
    for name in ("worker", "beat", "app"):
        service = compose["services"][name]
        assert service["command"][0] == "polaretl"
        assert ".:/workspace" in service["volumes"]
        assert "POLARETL_DATABASE_URL" in service["environment"]
