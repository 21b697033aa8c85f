//! A stand-in decision server that keeps no state and spends a chosen
//! amount of CPU on each request.
//!
//! Driven by the load generator that measures `lockgate serve`, it shows
//! which latencies the machine, the kernel's loopback TCP, hyper and the
//! load generator give by themselves at a given CPU cost per request. A
//! tail that the stand-in shows at Lockgate's CPU cost comes from sharing
//! the cores, not from Lockgate's storage or locks.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::routing::{get, post};
use rustix::time::{ClockId, clock_gettime};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{BankAccess, Fixture, Holder};

/// Reason code for a badge that no fixture holder carries.
/// The load generator expects it for the unknown badges it sends.
const UNKNOWN_REASON: &str = "unknown_credential";

/// Reason code for a holder's badge at another door.
const OTHER_DOOR_REASON: &str = "not_assigned";

/// Returns a fixture for the stand-in: `banks` banks of `doors` doors,
/// and one holder at every door. A holder's badge is `<bank>-<door>`, which
/// lets the stand-in decide without a table.
pub fn fixture(banks: usize, doors: u32) -> Fixture {
    let banks: Vec<BankAccess> = (0..banks)
        .map(|index| BankAccess {
            id: format!("b{index}"),
            device_token: format!("stand-in-token-{index}"),
        })
        .collect();
    let holders = banks
        .iter()
        .enumerate()
        .flat_map(|(index, bank)| {
            (1..=doors).map(move |door| Holder {
                badge: format!("{}-{door}", bank.id),
                bank: index,
                door,
            })
        })
        .collect::<Vec<_>>();
    Fixture {
        tenant: "stand-in".into(),
        admin_token: String::new(),
        users: holders.len(),
        lockers: holders.len(),
        doors_per_bank: doors,
        banks,
        holders,
    }
}

/// Returns the stand-in's router: `POST /device/v1/decisions` spends
/// `work` of CPU time, then allows a badge `<bank>-<door>` at its own door.
/// `GET /readyz` responds 200, as Lockgate's does once it serves.
pub fn router(work: Duration) -> axum::Router {
    axum::Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route("/device/v1/decisions", post(decide))
        .with_state(work)
}

/// The part of a decision request the stand-in reads.
#[derive(Debug, Deserialize)]
struct DecisionRequest {
    bank: String,
    door: String,
    credential: Credential,
}

#[derive(Debug, Deserialize)]
struct Credential {
    id: String,
}

async fn decide(State(work): State<Duration>, Json(request): Json<DecisionRequest>) -> Json<Value> {
    spend_cpu(work);
    Json(answer(&request))
}

/// Returns the response body for `request`, shaped like Lockgate's.
fn answer(request: &DecisionRequest) -> Value {
    let own = format!("{}-{}", request.bank, request.door);
    if request.credential.id == own {
        return json!({"decision": "allow", "locker": own, "credential": "badge"});
    }
    let holder = request
        .credential
        .id
        .rsplit_once('-')
        .is_some_and(|(bank, door)| bank.starts_with('b') && door.parse::<u32>().is_ok());
    let reason = if holder {
        OTHER_DOOR_REASON
    } else {
        UNKNOWN_REASON
    };
    json!({"decision": "deny", "reason": reason, "credential": "badge"})
}

/// Spins until this thread has used `work` of CPU time. CPU time, not
/// wall time, so that a thread the scheduler switches out still spends
/// the whole amount.
fn spend_cpu(work: Duration) {
    if work.is_zero() {
        return;
    }
    let start = thread_cpu_time();
    while thread_cpu_time().saturating_sub(start) < work {
        std::hint::spin_loop();
    }
}

/// Returns the CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let now = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bank: &str, door: &str, badge: &str) -> DecisionRequest {
        DecisionRequest {
            bank: bank.into(),
            door: door.into(),
            credential: Credential { id: badge.into() },
        }
    }

    #[test]
    fn fixture_has_holder_per_door() {
        let fixture = fixture(3, 4);
        assert_eq!(fixture.banks.len(), 3);
        assert_eq!(fixture.holders.len(), 12);
        let last = &fixture.holders[11];
        assert_eq!(last.badge, "b2-4");
        assert_eq!((last.bank, last.door), (2, 4));
    }

    #[test]
    fn answers_follow_the_fixture() {
        let own = answer(&request("b7", "3", "b7-3"));
        assert_eq!(own["decision"], "allow");

        let other = answer(&request("b7", "4", "b7-3"));
        assert_eq!(other["decision"], "deny");
        assert_eq!(other["reason"], OTHER_DOOR_REASON);

        let unknown = answer(&request("b7", "3", "X00ff00ff00ff00ff"));
        assert_eq!(unknown["reason"], UNKNOWN_REASON);
    }

    #[tokio::test]
    async fn generator_sees_expected_answers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = router(Duration::from_micros(5)).into_make_service();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let mix = crate::decisions::load::Mix {
            other_door_percent: 30,
            unknown_percent: 10,
        };
        let fixture = std::sync::Arc::new(fixture(20, 5));
        let mut generator = crate::decisions::load::Generator::connect(address, fixture, mix, 4, 7)
            .await
            .unwrap();
        let run = generator
            .run(Duration::from_millis(300), None)
            .await
            .unwrap();

        let tally = &run.tally;
        assert!(tally.requests > 100, "{tally:?}");
        assert_eq!(tally.failed, 0, "{:?}", run.problems);
        assert_eq!(tally.unexpected, 0, "{:?}", run.problems);
        assert!(tally.allowed > 0, "{tally:?}");
        assert!(tally.denied.get(UNKNOWN_REASON).is_some_and(|&n| n > 0));
        assert!(tally.denied.get(OTHER_DOOR_REASON).is_some_and(|&n| n > 0));
    }

    #[test]
    fn spent_cpu_reaches_the_amount() {
        let before = thread_cpu_time();
        spend_cpu(Duration::from_millis(3));
        let used = thread_cpu_time() - before;
        assert!(used >= Duration::from_millis(3), "{used:?}");
    }
}
