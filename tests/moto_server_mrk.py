"""moto_server with KMS multi-Region keys behaving as AWS documents them, for the multi-region tests.

moto 5.2.5 implements CreateKey(MultiRegion=true) and ReplicateKey with one backend per region, and the replica
has the primary's key id and key material (one public key, one kid). Where it differs from KMS in ways the
multi-region tests would not notice, or would pass for the wrong reason, this closes the gap:

1. Aliases are regional. moto's replica is a shallow copy of the primary, sharing its `aliases` dict, so an alias
   created in one region appears in every region holding a replica. Here each replica starts with its own.
2. ReplicateKey applies its `Tags` and `Policy` (moto ignores both; without `Policy` KMS gives the replica the
   default key policy, and so does this).
3. ReplicateKey into a region that already holds a replica fails with `AlreadyExistsException`.
4. ScheduleKeyDeletion of a primary key whose replicas are not all scheduled for deletion puts it in
   `PendingReplicaDeletion` (KMS waits for the last replica before the primary's window starts).
5. A key that is not `Enabled` cannot Sign or GetPublicKey (`KMSInvalidStateException`), as in KMS.
6. moto never deletes a key scheduled for deletion. `TrentService.EndDeletionWindow` {"KeyId"}, an action KMS does
   not have, plays the end of the key's window on a test's virtual clock: the key (`PendingDeletion`) is deleted,
   a replica leaves its primary's `ReplicaKeys`, and a primary in `PendingReplicaDeletion` whose last replica this
   was goes `PendingDeletion` (KMS starts the primary's window then).

Usage (same arguments as moto_server): python moto_server_mrk.py -H 127.0.0.1 -p PORT
"""
import json
import sys
from copy import copy

from moto.kms.exceptions import AlreadyExistsException
from moto.kms.models import KmsBackend, kms_backends
from moto.kms.responses import KmsResponse
from moto.server import main
from moto.core.exceptions import JsonRESTError


class KMSInvalidStateException(JsonRESTError):
    code = 400

    def __init__(self, message):
        super().__init__("KMSInvalidStateException", message)


def _replicate_key(self, key_id, replica_region, tags=None, policy=None):
    primary = self.keys[self.get_key_id(key_id)]
    target = kms_backends[self.account_id][replica_region]
    if primary.id in target.keys:
        raise AlreadyExistsException(f"{primary.arn} already has a replica in {replica_region}")
    replica = copy(primary)
    replica.region = replica_region
    replica.arn = primary.arn.replace(f":{self.region_name}:", f":{replica_region}:")
    replica.aliases = {}
    replica.grants = {}
    replica.key_state = "Enabled"
    replica.enabled = True
    replica.deletion_date = None
    replica.policy = policy or replica.generate_default_policy()
    config = copy(primary.multi_region_configuration)
    config["ReplicaKeys"] = list(config["ReplicaKeys"]) + [{"Arn": replica.arn, "Region": replica_region}]
    primary.multi_region_configuration = config
    replica.multi_region_configuration = copy(config)
    replica.multi_region_configuration["MultiRegionKeyType"] = "REPLICA"
    target.keys[replica.id] = replica
    if tags:
        target.tagger.tag_resource(replica.id, tags)
    return replica


def _replicate_key_response(self):
    key_id = self._get_param("KeyId")
    self._validate_key_id(key_id)
    replica = self.kms_backend.replicate_key(
        key_id,
        self._get_param("ReplicaRegion"),
        tags=self._get_param("Tags"),
        policy=self._get_param("Policy"),
    )
    return json.dumps(
        {"ReplicaKeyMetadata": replica.to_dict()["KeyMetadata"], "ReplicaPolicy": replica.policy}
    )


_schedule = KmsBackend.schedule_key_deletion


def _schedule_key_deletion(self, key_id, pending_window_in_days):
    out = _schedule(self, key_id, pending_window_in_days)
    key = self.keys[key_id]
    config = getattr(key, "multi_region_configuration", None)
    if key.multi_region and config and config["PrimaryKey"]["Arn"] == key.arn:
        live = [
            r
            for r in config["ReplicaKeys"]
            if kms_backends[self.account_id][r["Region"]].keys.get(key.id) is not None
            and kms_backends[self.account_id][r["Region"]].keys[key.id].key_state != "PendingDeletion"
        ]
        if live:
            key.key_state = "PendingReplicaDeletion"
    return out


def _usable(method):
    def wrapped(self, key_id, *args, **kwargs):
        key = self.describe_key(key_id)
        if key.key_state != "Enabled":
            raise KMSInvalidStateException(f"{key.arn} is {key.key_state}")
        return method(self, key_id, *args, **kwargs)

    return wrapped


def _end_deletion_window(self):
    backend = self.kms_backend
    key = backend.keys[backend.get_key_id(self._get_param("KeyId"))]
    if key.key_state != "PendingDeletion":
        raise KMSInvalidStateException(f"{key.arn} is {key.key_state}, not PendingDeletion")
    backend.delete_key(key.id)
    config = getattr(key, "multi_region_configuration", None)
    if key.multi_region and config and config["PrimaryKey"]["Arn"] != key.arn:
        primary = kms_backends[backend.account_id][config["PrimaryKey"]["Region"]].keys.get(key.id)
        if primary is not None:
            own = copy(primary.multi_region_configuration)
            own["ReplicaKeys"] = [r for r in own["ReplicaKeys"] if r["Region"] != backend.region_name]
            primary.multi_region_configuration = own
            if primary.key_state == "PendingReplicaDeletion" and not own["ReplicaKeys"]:
                primary.key_state = "PendingDeletion"
    return json.dumps({})


KmsBackend.replicate_key = _replicate_key
KmsResponse.replicate_key = _replicate_key_response
KmsResponse.end_deletion_window = _end_deletion_window
KmsBackend.schedule_key_deletion = _schedule_key_deletion
KmsBackend.sign = _usable(KmsBackend.sign)
KmsBackend.get_public_key = _usable(KmsBackend.get_public_key)

if __name__ == "__main__":
    sys.exit(main())
