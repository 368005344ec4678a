"""Whether a user is in one of the provisioned groups a resource policy requires (``groups:``).

Read on every request to such a resource, never cached: a member a SCIM client
removes is refused from the next request on. One indexed lookup
(``ix_scim_group_members_user_id``, then the groups by primary key).
"""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.scim.models import ScimGroup, ScimGroupMember


def allowed(groups: tuple[str, ...], user_id: int) -> bool:
    """True when ``groups`` is empty or the user is a member of one of them (names compared exactly)."""
    if not groups:
        return True
    query = (
        select(ScimGroupMember.group_id)
        .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .where(ScimGroupMember.user_id == user_id, ScimGroup.display_name.in_(groups))
        .limit(1)
    )
    return db.session.scalar(query) is not None
