//! The audit chain: each audit record carries the SHA-256 of its own
//! content and of the record before it in the tenant's log, so altering,
//! removing or reordering a stored record breaks every hash after it.
//!
//! Removing records from the end leaves a shorter chain that is still
//! valid. Detecting that needs the last hash kept outside the database (an
//! export, a log line), which [`verify`] and [`ChainVerifier`] accept as
//! `expected_head`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The hash before a tenant's first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The cause of an audited change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A SCIM client; the id is the credential it used.
    Scim(String),
    Admin(String),
    Device(String),
    /// A locker user acting for themselves through the app API; the id is
    /// their Lockgate user id.
    User(String),
    System,
}

/// One audit record as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub tenant_id: String,
    /// Position in the tenant's chain, from 1 without gaps.
    pub seq: i64,
    pub at: String,
    pub actor: Actor,
    /// The request, admin action or device message that caused the change.
    pub source: Option<String>,
    /// The kind of change, such as `user_deactivated` or `open_allowed`.
    pub action: String,
    /// The user, group, locker or policy the record is about.
    pub subject: String,
    pub detail: Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The fields a record's hash covers: everything but the hash itself.
#[derive(Serialize)]
struct Hashed<'a> {
    tenant_id: &'a str,
    seq: i64,
    at: &'a str,
    actor: &'a Actor,
    source: &'a Option<String>,
    action: &'a str,
    subject: &'a str,
    detail: Canonical<'a>,
    prev_hash: &'a str,
}

impl AuditRecord {
    /// Computes the hash of this record's content chained to `prev_hash`.
    /// serde_json writes struct fields in declaration order, and `Canonical`
    /// sorts object keys (the workspace enables serde_json's
    /// `preserve_order`, which would keep insertion order), so equal records
    /// always hash the same.
    pub fn compute_hash(&self) -> String {
        let hashed = Hashed {
            tenant_id: &self.tenant_id,
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            source: &self.source,
            action: &self.action,
            subject: &self.subject,
            detail: Canonical(&self.detail),
            prev_hash: &self.prev_hash,
        };
        let bytes = serde_json::to_vec(&hashed).expect("audit records serialize");
        hex::encode(Sha256::digest(&bytes))
    }

    /// Sets `prev_hash`, `seq` and `hash` to follow `previous` (or start the
    /// chain when there is none).
    pub fn seal_after(&mut self, previous: Option<&AuditRecord>) {
        self.prev_hash = previous.map_or(GENESIS.to_string(), |p| p.hash.clone());
        self.seq = previous.map_or(1, |p| p.seq + 1);
        self.hash = self.compute_hash();
    }
}

/// A borrowed JSON value that serializes with object keys sorted at every
/// depth, so the hash does not depend on the order the keys were inserted.
struct Canonical<'a>(&'a Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;

        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    out.serialize_entry(key, &Canonical(value))?;
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Canonical)),
            other => other.serialize(serializer),
        }
    }
}

/// The reason a chain failed verification, at the first record that does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("audit record {seq} was altered: its content does not match its hash")]
    Altered { seq: i64 },
    #[error(
        "audit record {seq} does not follow record {previous}: records are missing or reordered"
    )]
    Broken { seq: i64, previous: i64 },
    #[error("audit record {seq} belongs to another tenant")]
    ForeignTenant { seq: i64 },
    #[error(
        "no audit record has the expected head hash {expected}, and the chain ends at record \
         {last_seq} with hash {actual}, so records were removed from its end or the expected \
         head belongs to another tenant or database"
    )]
    HeadMismatch {
        expected: String,
        actual: String,
        /// The last record of the chain, 0 when it is empty.
        last_seq: i64,
    },
    #[error(
        "audit record {seq}, where the check was asked to resume, is missing or does not have \
         the given hash {expected}; pass the last_seq and head of the earlier check, or check \
         the chain from its first record"
    )]
    StartMismatch { seq: i64, expected: String },
}

impl ChainError {
    /// Returns a stable name for the kind of failure, for scripts that
    /// tell a wrong resume point from a changed record.
    pub fn code(&self) -> &'static str {
        match self {
            ChainError::Altered { .. } => "altered",
            ChainError::Broken { .. } => "broken",
            ChainError::ForeignTenant { .. } => "foreign_tenant",
            ChainError::HeadMismatch { .. } => "head_mismatch",
            ChainError::StartMismatch { .. } => "start_mismatch",
        }
    }
}

/// A chain check that takes one tenant's records one at a time, in `seq`
/// order from the first, so a caller can stream a log of any length
/// through it in pages.
///
/// The expected head passes when any checked record has that hash (or it
/// is [`GENESIS`]), not only the last one: records appended after the head
/// was written down are a longer valid chain, not a sign of tampering.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    tenant_id: String,
    expected_head: Option<String>,
    /// The `seq` of the record whose hash is `expected_head`, once seen.
    expected_head_seq: Option<i64>,
    last_seq: i64,
    head: String,
    records: u64,
}

impl ChainVerifier {
    /// Starts a check of `tenant_id`'s chain that, when `expected_head` is
    /// given, also requires a record with that hash.
    pub fn new(tenant_id: &str, expected_head: Option<&str>) -> Self {
        Self::resume(tenant_id, 0, GENESIS, expected_head)
    }

    /// Starts a check at the record after `after_seq`, trusting that the
    /// chain up to it ends in `after_hash`, as an earlier check found. The
    /// next record must link to that hash, so a check in parts finds the
    /// same breaks in the records it reads as one over the whole chain.
    pub fn resume(
        tenant_id: &str,
        after_seq: i64,
        after_hash: &str,
        expected_head: Option<&str>,
    ) -> Self {
        let expected_head_seq = (expected_head == Some(after_hash)).then_some(after_seq);
        ChainVerifier {
            tenant_id: tenant_id.to_string(),
            expected_head: expected_head.map(str::to_string),
            expected_head_seq,
            last_seq: after_seq,
            head: after_hash.to_string(),
            records: 0,
        }
    }

    /// Checks the record a resumed check starts after, which must be
    /// stored unaltered with the hash the check was resumed from. `None`
    /// means no record has that `seq`.
    pub fn check_start(&self, record: Option<&AuditRecord>) -> Result<(), ChainError> {
        let mismatch = || ChainError::StartMismatch {
            seq: self.last_seq,
            expected: self.head.clone(),
        };
        let record = record.ok_or_else(mismatch)?;
        if record.tenant_id != self.tenant_id {
            return Err(ChainError::ForeignTenant { seq: record.seq });
        }
        if record.seq != self.last_seq || record.hash != self.head {
            return Err(mismatch());
        }
        if record.compute_hash() != record.hash {
            return Err(ChainError::Altered { seq: record.seq });
        }
        Ok(())
    }

    /// Checks the next record against the ones before it. After an error
    /// the verifier stays at the last good record, so callers stop at the
    /// first error.
    pub fn push(&mut self, record: &AuditRecord) -> Result<(), ChainError> {
        if record.tenant_id != self.tenant_id {
            return Err(ChainError::ForeignTenant { seq: record.seq });
        }
        if record.prev_hash != self.head || record.seq != self.last_seq + 1 {
            return Err(ChainError::Broken {
                seq: record.seq,
                previous: self.last_seq,
            });
        }
        if record.compute_hash() != record.hash {
            return Err(ChainError::Altered { seq: record.seq });
        }
        if self.expected_head.as_deref() == Some(record.hash.as_str()) {
            self.expected_head_seq = Some(record.seq);
        }
        self.last_seq = record.seq;
        self.head.clone_from(&record.hash);
        self.records += 1;
        Ok(())
    }

    /// Returns the number of records that passed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Returns the hash of the last record that passed, or [`GENESIS`]
    /// before the first.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// Returns the `seq` of the last record that passed, or 0 before the first.
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// Returns the `seq` of the record with the expected head hash, 0 for
    /// [`GENESIS`], or `None` while no checked record has it.
    pub fn expected_head_seq(&self) -> Option<i64> {
        self.expected_head_seq
    }

    /// Ends the check after the last record: fails when an expected head
    /// was given and no checked record has it.
    pub fn finish(&self) -> Result<(), ChainError> {
        match &self.expected_head {
            Some(expected) if self.expected_head_seq.is_none() => Err(ChainError::HeadMismatch {
                expected: expected.clone(),
                actual: self.head.clone(),
                last_seq: self.last_seq,
            }),
            _ => Ok(()),
        }
    }
}

/// Checks one tenant's records, in `seq` order, from the first. With
/// `expected_head`, one of the records must have that hash, as
/// [`ChainVerifier`] describes.
pub fn verify(
    tenant_id: &str,
    records: &[AuditRecord],
    expected_head: Option<&str>,
) -> Result<(), ChainError> {
    let mut verifier = ChainVerifier::new(tenant_id, expected_head);
    for record in records {
        verifier.push(record)?;
    }
    verifier.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn chain(n: usize) -> Vec<AuditRecord> {
        let mut records: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let mut record = AuditRecord {
                tenant_id: "t1".into(),
                seq: 0,
                at: format!("2026-12-04T10:00:{i:02}.000Z"),
                actor: Actor::Scim("cred-1".into()),
                source: Some(format!("req-{i}")),
                action: "user_updated".into(),
                subject: format!("user-{i}"),
                detail: json!({"changed": ["title"], "active": true}),
                prev_hash: String::new(),
                hash: String::new(),
            };
            record.seal_after(records.last());
            records.push(record);
        }
        records
    }

    /// Pins the bytes a hash covers, so stored chains keep verifying:
    /// fields in declaration order, object keys sorted at every depth, and
    /// array order kept.
    #[test]
    fn hash_covers_sorted_json() {
        let mut record = AuditRecord {
            tenant_id: "t1".into(),
            seq: 7,
            at: "2026-12-05T10:00:00.000Z".into(),
            actor: Actor::Device("bank-1".into()),
            source: None,
            action: "open_allowed".into(),
            subject: "user-1".into(),
            detail: json!({"locker": "w3-a-1", "by": {"z": 1, "a": [{"y": 2, "b": 3}]}}),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        };
        record.hash = record.compute_hash();

        let expected = format!(
            concat!(
                r#"{{"tenant_id":"t1","seq":7,"at":"2026-12-05T10:00:00.000Z","#,
                r#""actor":{{"type":"device","id":"bank-1"}},"source":null,"#,
                r#""action":"open_allowed","subject":"user-1","#,
                r#""detail":{{"by":{{"a":[{{"b":3,"y":2}}],"z":1}},"locker":"w3-a-1"}},"#,
                r#""prev_hash":"{}"}}"#
            ),
            GENESIS
        );
        assert_eq!(
            record.hash,
            hex::encode(Sha256::digest(expected.as_bytes()))
        );
    }

    #[test]
    fn intact_chain_verifies() {
        let records = chain(5);
        assert_eq!(verify("t1", &records, None), Ok(()));
        assert_eq!(verify("t1", &records, Some(&records[4].hash)), Ok(()));
        assert_eq!(verify("t1", &[], Some(GENESIS)), Ok(()));
    }

    #[test]
    fn altered_field_is_detected() {
        let mut records = chain(5);
        records[2].detail = json!({"changed": ["title"], "active": false});
        assert_eq!(
            verify("t1", &records, None),
            Err(ChainError::Altered { seq: 3 })
        );
    }

    #[test]
    fn rehashed_alteration_breaks_the_next_link() {
        let mut records = chain(5);
        records[2].subject = "someone-else".into();
        records[2].hash = records[2].compute_hash();
        assert_eq!(
            verify("t1", &records, None),
            Err(ChainError::Broken {
                seq: 4,
                previous: 3
            })
        );
    }

    #[test]
    fn removed_record_is_detected() {
        let mut records = chain(5);
        records.remove(1);
        assert_eq!(
            verify("t1", &records, None),
            Err(ChainError::Broken {
                seq: 3,
                previous: 1
            })
        );
    }

    #[test]
    fn reordered_records_are_detected() {
        let mut records = chain(5);
        records.swap(1, 2);
        assert!(matches!(
            verify("t1", &records, None),
            Err(ChainError::Broken { .. })
        ));
    }

    #[test]
    fn truncated_tail_needs_the_head() {
        let records = chain(5);
        let head = records[4].hash.clone();
        let truncated = &records[..3];
        assert_eq!(
            verify("t1", truncated, None),
            Ok(()),
            "a shorter chain is valid alone"
        );
        assert!(matches!(
            verify("t1", truncated, Some(&head)),
            Err(ChainError::HeadMismatch { .. })
        ));
    }

    #[test]
    fn foreign_tenant_record_is_detected() {
        let mut records = chain(3);
        records[1].tenant_id = "t2".into();
        assert_eq!(
            verify("t1", &records, None),
            Err(ChainError::ForeignTenant { seq: 2 })
        );
    }

    #[test]
    fn head_of_longer_chain_passes() {
        let records = chain(5);
        let head = records[2].hash.clone();
        assert_eq!(
            verify("t1", &records, Some(&head)),
            Ok(()),
            "records appended after the head was written down are valid"
        );
    }

    #[test]
    fn head_mismatch_names_last_record() {
        let records = chain(3);
        let error = verify("t1", &records, Some("ab12")).unwrap_err();
        assert_eq!(
            error,
            ChainError::HeadMismatch {
                expected: "ab12".into(),
                actual: records[2].hash.clone(),
                last_seq: 3,
            }
        );
        assert!(error.to_string().contains("record 3"), "{error}");
    }

    #[test]
    fn resumed_verifier_links_to_its_start() {
        let records = chain(5);
        let mut verifier = ChainVerifier::resume("t1", 2, &records[1].hash, None);
        assert_eq!(verifier.check_start(Some(&records[1])), Ok(()));
        for record in &records[2..] {
            assert_eq!(verifier.push(record), Ok(()));
        }
        assert_eq!(verifier.records(), 3);
        assert_eq!(verifier.last_seq(), 5);

        let mut other = ChainVerifier::resume("t1", 2, &records[0].hash, None);
        let start = other.check_start(Some(&records[1]));
        assert!(matches!(
            start,
            Err(ChainError::StartMismatch { seq: 2, .. })
        ));
        assert!(matches!(
            other.push(&records[2]),
            Err(ChainError::Broken {
                seq: 3,
                previous: 2
            })
        ));
    }

    #[test]
    fn resumed_verifier_needs_its_start_record() {
        let records = chain(3);
        let verifier = ChainVerifier::resume("t1", 2, &records[1].hash, None);
        let missing = verifier.check_start(None);
        assert!(matches!(
            missing,
            Err(ChainError::StartMismatch { seq: 2, .. })
        ));

        let mut altered = records[1].clone();
        altered.subject = "someone-else".into();
        assert_eq!(
            verifier.check_start(Some(&altered)),
            Err(ChainError::Altered { seq: 2 })
        );
    }

    #[test]
    fn verifier_counts_and_tracks_head() {
        let records = chain(4);
        let mut verifier = ChainVerifier::new("t1", Some(&records[1].hash));
        assert_eq!(verifier.head(), GENESIS);
        assert_eq!(verifier.expected_head_seq(), None);
        for record in &records {
            verifier.push(record).unwrap();
        }
        assert_eq!(verifier.records(), 4);
        assert_eq!(verifier.last_seq(), 4);
        assert_eq!(verifier.head(), records[3].hash);
        assert_eq!(verifier.expected_head_seq(), Some(2));
        assert_eq!(verifier.finish(), Ok(()));
    }

    #[test]
    fn verifier_matches_verify_across_pages() {
        let records = chain(10);
        let mut verifier = ChainVerifier::new("t1", None);
        for page in records.chunks(3) {
            for record in page {
                verifier.push(record).unwrap();
            }
        }
        assert_eq!(verifier.finish(), verify("t1", &records, None));
        assert_eq!(verifier.head(), records[9].hash);
    }

    #[test]
    fn verifier_stays_at_last_good_record() {
        let mut records = chain(4);
        records[2].action = "user_deleted".into();
        let mut verifier = ChainVerifier::new("t1", None);
        verifier.push(&records[0]).unwrap();
        verifier.push(&records[1]).unwrap();
        assert_eq!(
            verifier.push(&records[2]),
            Err(ChainError::Altered { seq: 3 })
        );
        assert_eq!(verifier.records(), 2);
        assert_eq!(verifier.last_seq(), 2);
        assert_eq!(verifier.head(), records[1].hash);
    }

    #[test]
    fn verifier_rejects_chain_not_from_genesis() {
        let records = chain(3);
        let mut verifier = ChainVerifier::new("t1", None);
        assert_eq!(
            verifier.push(&records[1]),
            Err(ChainError::Broken {
                seq: 2,
                previous: 0
            })
        );
    }

    #[test]
    fn empty_chain_expects_genesis() {
        let verifier = ChainVerifier::new("t1", Some(GENESIS));
        assert_eq!(verifier.expected_head_seq(), Some(0));
        assert_eq!(verifier.finish(), Ok(()));
        let other = ChainVerifier::new("t1", Some(&chain(1)[0].hash));
        assert!(matches!(
            other.finish(),
            Err(ChainError::HeadMismatch { last_seq: 0, .. })
        ));
    }

    #[test]
    fn hash_ignores_key_order() {
        let mut a = chain(1).remove(0);
        let mut b = a.clone();
        a.detail = serde_json::from_str(r#"{"x": 1, "y": {"b": 2, "a": 1}}"#).unwrap();
        b.detail = serde_json::from_str(r#"{"y": {"a": 1, "b": 2}, "x": 1}"#).unwrap();
        assert_eq!(a.compute_hash(), b.compute_hash());
    }
}
