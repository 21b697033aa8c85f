//! The hospital's staff as the replay generates them, the users the demo
//! picks for each joiner, mover and leaver case, and their names.

use std::collections::HashMap;

use anyhow::{Result, anyhow};
use lockgate_replay::generate::{Move, Population, user_label};
use lockgate_replay::replay::Bindings;

use super::hospital::{self, DOCTORS, NURSE_TEAMS, PORTERS};

/// New users in the first incremental cycle.
const JOINERS: usize = 10;

/// The staff, and the Lockgate ids the server gave them during the replay.
pub(super) struct People {
    pub population: Population,
    pub bindings: Bindings,
    /// The team of each user who changed team in the incremental cycles,
    /// or `None` for one removed from theirs.
    moved: HashMap<usize, Option<usize>>,
}

/// The users each case of the demo happens to, by population index.
pub(super) struct Cast {
    pub joiners: Vec<usize>,
    /// Nurses who move to the next ward's team.
    pub ward_movers: Vec<Move>,
    /// Nurses removed from their team in Entra's default dialect.
    pub removed: Vec<Move>,
    /// A nurse removed from their team in the compliant dialect.
    pub removed_compliant: Move,
    /// Users disabled in Entra's default dialect.
    pub disabled_default: Vec<usize>,
    pub deleted: Vec<usize>,
    /// Users disabled in the compliant dialect.
    pub disabled_compliant: Vec<usize>,
    /// A user disabled in the first incremental cycle and enabled in the second.
    pub re_enabled: usize,
    /// A nurse no case touches, who shows the allowed opens and the PIN.
    pub nurse: usize,
    pub doctor: usize,
    pub porter: usize,
}

impl People {
    pub fn new(users: usize) -> People {
        People {
            population: Population::with_teams(users, hospital::teams()),
            bindings: Bindings::default(),
            moved: HashMap::new(),
        }
    }

    /// Picks the users of every case, spread over the teams.
    pub fn cast(&self) -> Result<Cast> {
        let population = &self.population;
        let team = |i: usize| population.team_of(i).unwrap_or_default();
        let members = |wanted: &dyn Fn(usize) -> bool| -> Vec<usize> {
            (0..population.users).filter(|&i| wanted(team(i))).collect()
        };
        let nurses = members(&|t| NURSE_TEAMS.contains(&t));
        let doctors = members(&|t| t == DOCTORS);
        let porters = members(&|t| t == PORTERS);
        if nurses.len() < 32 || doctors.len() < 5 || porters.len() < 6 {
            return Err(anyhow!(
                "{} users give too few nurses, doctors or porters for every case; use --users 100 or more",
                population.users
            ));
        }
        let next_ward =
            |t: usize| NURSE_TEAMS.start + (t - NURSE_TEAMS.start + 1) % NURSE_TEAMS.len();
        let ward_move = |i: usize| Move {
            user: i,
            from: team(i),
            to: Some(next_ward(team(i))),
        };
        let removal = |i: usize| Move {
            user: i,
            from: team(i),
            to: None,
        };
        Ok(Cast {
            joiners: (population.users..population.users + JOINERS).collect(),
            ward_movers: [1, 4, 7].map(|k| ward_move(nurses[k])).to_vec(),
            removed: [10, 13].map(|k| removal(nurses[k])).to_vec(),
            removed_compliant: removal(nurses[31]),
            disabled_default: vec![nurses[16], nurses[19], doctors[2], porters[1]],
            deleted: vec![nurses[22], porters[3]],
            disabled_compliant: vec![nurses[25], nurses[28], doctors[4], porters[5]],
            re_enabled: nurses[16],
            nurse: nurses[0],
            doctor: doctors[0],
            porter: porters[0],
        })
    }

    /// Returns the Lockgate id the server gave user `i`.
    pub fn id(&self, i: usize) -> Result<String> {
        self.bindings.get(&user_label(i)).ok_or_else(|| {
            anyhow!(
                "user {} was not created by the replay",
                self.population.user_name(i)
            )
        })
    }

    /// Maps Lockgate user ids back to population indexes.
    pub fn indexes_by_id(&self, count: usize) -> HashMap<String, usize> {
        (0..count)
            .filter_map(|i| self.bindings.get(&user_label(i)).map(|id| (id, i)))
            .collect()
    }

    /// Returns the badge number of user `i`: their enterprise `employeeNumber`.
    pub fn badge(&self, i: usize) -> String {
        let body = self.population.user_body(i);
        body["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["employeeNumber"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Records the team changes of `cast`, once the replay has sent them,
    /// so later descriptions name each user's current team.
    pub fn follow_moves(&mut self, cast: &Cast) {
        let moves = cast.ward_movers.iter().chain(&cast.removed);
        for change in moves.chain(std::iter::once(&cast.removed_compliant)) {
            self.moved.insert(change.user, change.to);
        }
    }

    /// Returns `Display Name (badge, team)` for user `i`, with the team
    /// they are in now. Display names repeat in a large population, but
    /// badge numbers do not.
    pub fn describe(&self, i: usize) -> String {
        let team = match self.moved.get(&i) {
            Some(&now) => now,
            None => self.population.team_of(i),
        };
        match team {
            Some(team) => format!(
                "{} ({}, {})",
                self.name(i),
                self.badge(i),
                self.population.group_name(team)
            ),
            None => self.name_and_badge(i),
        }
    }

    /// Returns the SCIM `userName` of user `i`, which the admin API also
    /// accepts in place of the Lockgate id.
    pub fn user_name(&self, i: usize) -> String {
        self.population.user_name(i)
    }

    /// Returns the display name and badge, without the ward group.
    pub fn name_and_badge(&self, i: usize) -> String {
        format!("{} ({})", self.name(i), self.badge(i))
    }

    fn name(&self, i: usize) -> String {
        let body = self.population.user_body(i);
        body["displayName"].as_str().unwrap_or_default().to_string()
    }

    pub fn group_name(&self, g: usize) -> String {
        self.population.group_name(g)
    }
}
