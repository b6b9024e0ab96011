"""docker-compose.yml keeps what the real iRODS zone needed for TicketBooth (docs/irods.md, "Docker").

Docker cannot run here, so the file is checked as data: the users the zone must have, the addresses iRODS sees
TicketBooth connect from, the one port TicketBooth needs.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]


def test_the_setup_service_creates_anonymous_and_the_demo_users_before_ticketbooth_starts():
    script = SERVICES["irods-setup"]["command"][-1]
    for name in ("anonymous", "alice", "bob", "lab"):
        assert f'"{name}"' in script
    compile(script, "irods-setup", "exec")  # the inline script is valid Python
    for name in ("ticketbooth-api", "ticketbooth-gateway"):
        assert SERVICES[name]["depends_on"]["irods-setup"]["condition"] == "service_completed_successfully"


def test_service_hosts_are_the_fixed_addresses_of_api_and_gateway():
    env = COMPOSE["x-ticketbooth-env"]
    listed = env["TICKETBOOTH_IRODS__SERVICE_HOSTS"].split(",")
    fixed = [SERVICES[name]["networks"]["zone"]["ipv4_address"] for name in ("ticketbooth-api", "ticketbooth-gateway")]
    assert sorted(listed) == sorted(fixed)
    subnet = ipaddress.ip_network(COMPOSE["networks"]["zone"]["ipam"]["config"][0]["subnet"])
    assert all(ipaddress.ip_address(a) in subnet for a in fixed)
    assert env["TICKETBOOTH_IRODS__ANONYMOUS_USER"] == "anonymous"


def test_only_the_zone_port_is_published_for_irods():
    assert SERVICES["irods-catalog-provider"]["ports"] == ["127.0.0.1:1247:1247"]
