"""stepgate's SCIM request handling against scim2-models': ``python bench/scim_models.py``.

One create body checked against the schema, a two-operation PATCH applied,
and ``attributes=userName,emails`` selected: stepgate's hand-written modules
(``app.scim.validate``, ``app.scim.patch``, ``app.scim.selection``) against
scim2-models' ``User[EnterpriseUser]`` validation, ``PatchOp.patch`` and
``model_dump(response_parameters=...)``. No database, no HTTP: the protocol
code alone. scim2-models comes with the test extra (scim2-tester needs it).
"""

from __future__ import annotations

import copy
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scim2_models import Context, EnterpriseUser, PatchOp, ResponseParameters, User  # noqa: E402

from app.scim import selection  # noqa: E402
from app.scim.attributes import ENTERPRISE, USER_SCHEMA, user_schemas  # noqa: E402
from app.scim.config import DEFAULT_MAPPING  # noqa: E402
from app.scim.patch import Patcher  # noqa: E402
from app.scim.validate import check_resource  # noqa: E402

BODY = {
    "schemas": [USER_SCHEMA, ENTERPRISE],
    "userName": "bjensen",
    "externalId": "x1",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [{"value": "b@example.org", "type": "work", "primary": True}, {"value": "b@home.org", "type": "home"}],
    "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
    "active": True,
    "title": "Tour Guide",
    ENTERPRISE: {"department": "Tour", "employeeNumber": "7"},
}
PATCH = {
    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
    "Operations": [
        {"op": "replace", "path": "title", "value": "Boss"},
        {"op": "add", "path": "emails", "value": [{"value": "c@example.org", "type": "other"}]},
    ],
}
SCHEMAS = user_schemas(DEFAULT_MAPPING, registration=False)
MODEL = User[EnterpriseUser]
PATCH_MODEL = PatchOp[MODEL]


def stepgate() -> None:
    resource = check_resource(BODY, USER_SCHEMA, SCHEMAS) | {"id": "1", "meta": {}}
    Patcher(SCHEMAS).apply(copy.deepcopy(resource), PATCH)
    selection.select(resource, ["username", "emails"], [])


def scim2_models() -> None:
    user = MODEL.model_validate(BODY, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    user.id = "1"
    PATCH_MODEL.model_validate(PATCH, scim_ctx=Context.RESOURCE_PATCH_REQUEST).patch(user)
    chosen = ResponseParameters(attributes=["userName", "emails"])
    user.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=chosen)


def median_us(call, rounds: int = 1000) -> float:
    call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def import_ms(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    print(f"stepgate (validate + patch + select)     : {median_us(stepgate):8.0f} us median")
    print(f"scim2-models (validate + patch + dump)   : {median_us(scim2_models):8.0f} us median")
    print(f"import scim2_models in a fresh process   : {import_ms('scim2_models'):8.0f} ms")


if __name__ == "__main__":
    main()
