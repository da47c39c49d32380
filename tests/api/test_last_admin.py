"""The API never leaves the farm without an admin: demoting or removing the last admin is a
409 problem (the ``omega users`` CLI on the farm's machine stays the way back)."""

from __future__ import annotations

from omegafarm.security import Role, read_file
from tests.api.conftest import PASSWORD, Farm


async def test_the_last_admin_cannot_demote_or_remove_itself(farm: Farm) -> None:
    async with farm.client("admin") as http:
        demote = await http.patch("/api/v1/admin/users/admin", json={"role": "trader"})
        remove = await http.delete("/api/v1/admin/users/admin")
        users = (await http.get("/api/v1/admin/users")).json()
    for response in (demote, remove):
        assert response.status_code == 409
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "last admin" in response.json()["detail"]
    assert {"name": "admin", "role": "admin"}.items() <= next(
        u for u in users if u["name"] == "admin"
    ).items()
    denied = [
        e["action"]
        for e in read_file(farm.security.audit.path)
        if e and e["outcome"] == "denied" and e["details"].get("user") == "admin"
    ]
    assert denied == ["user_update", "user_remove"]


async def test_with_a_second_admin_either_one_may_step_down(farm: Farm) -> None:
    async with farm.client("admin") as http:
        created = await http.post(
            "/api/v1/admin/users", json={"name": "admin2", "role": "admin", "password": PASSWORD}
        )
        demoted = await http.patch("/api/v1/admin/users/admin2", json={"role": "viewer"})
        removed = await http.delete("/api/v1/admin/users/admin2")
        password_change = await http.patch(
            "/api/v1/admin/users/admin", json={"password": PASSWORD + "!"}
        )
    assert created.status_code == 201
    assert demoted.status_code == 200
    assert removed.status_code == 200
    assert password_change.status_code == 200  # the guard is about roles, not passwords


async def test_the_service_without_the_guard_still_demotes_the_last_admin(farm: Farm) -> None:
    # what `omega users set NAME --role ...` does on the farm's machine: the way back stays open
    await farm.security.update_user("admin", actor="cli", role=Role.TRADER)
    after = {u.name: u.role for u in farm.security.list_users()}
    await farm.security.update_user("admin", actor="cli", role=Role.ADMIN)
    assert after["admin"] is Role.TRADER
