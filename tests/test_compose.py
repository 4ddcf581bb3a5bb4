"""docker-compose.yml parses and has every service the README names.

There is no Docker engine where the suite runs: this checks the file, not a `compose up`.
"""

import re

import yaml

from tests.helpers import ROOT

SERVICES = {"postgres", "redis", "s3", "buckets", "worker", "beat", "app", "flower", "cli"}


def test_compose_names_every_service_the_readme_names():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = set(compose["services"])
    readme = (ROOT / "README.md").read_text()
    line = next(li for li in readme.split("\n\n") if "docker-compose.yml` runs" in li)
    named = set(re.findall(r"`(\w+)`", line.split("services", 1)[1]))
    named &= SERVICES | services
    assert named == services == SERVICES
    for name in ("worker", "beat", "app"):
        service = compose["services"][name]
        assert service["command"][0] == "polaretl"
        assert ".:/workspace" in service["volumes"]
        assert "POLARETL_DATABASE_URL" in service["environment"]
        # object storage through the standard variables, reachable from every container
        assert service["environment"]["AWS_ENDPOINT_URL"] == "http://s3:9000"
    s3 = compose["services"]["s3"]
    polaretl_env = compose["services"]["worker"]["environment"]
    assert s3["environment"]["MINIO_ROOT_USER"] == polaretl_env["AWS_ACCESS_KEY_ID"]
    assert s3["environment"]["MINIO_ROOT_PASSWORD"] == polaretl_env["AWS_SECRET_ACCESS_KEY"]
    assert "s3data:/data" in s3["volumes"]  # objects outlive the container
    bucket = " ".join(compose["services"]["buckets"]["entrypoint"])
    assert "mb --ignore-existing local/polaretl" in bucket
    flower = compose["services"]["flower"]["command"]
    assert "flower" in flower and f"--broker={polaretl_env['POLARETL_REDIS_URL']}" in flower
    assert compose["services"]["worker"]["depends_on"]["buckets"] == {
        "condition": "service_completed_successfully"
    }
