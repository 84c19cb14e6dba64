//! Running the checker: breadth-first search over one configuration, and the assertions the
//! tests share.

use crate::config::{Config, Old};
use crate::model::Protocol;
use stateright::{Checker, Expectation, HasDiscoveries, Model};
use std::collections::BTreeSet;
use std::time::Instant;

/// A finished search, with what the tests need of it.
pub struct Run {
    checker: Box<dyn Found>,
}

/// The checker methods the tests use, object-safe (the checker's type is unnameable).
trait Found {
    fn found(&self, name: &'static str) -> Option<String>;
    fn done(&self) -> bool;
}

impl<C: Checker<Protocol>> Found for C {
    fn found(&self, name: &'static str) -> Option<String> {
        self.discovery(name)
            .map(|p| format!("{p}last state: {:?}\n", p.last_state()))
    }
    fn done(&self) -> bool {
        self.is_done()
    }
}

impl Run {
    /// The path to a state that violates (or, for `sometimes`, satisfies) `property`.
    pub fn found(&self, property: &'static str) -> Option<String> {
        self.checker.found(property)
    }
}

/// Explores `cfg` breadth-first, to the end, or until every property in `until` is found.
pub fn explore(label: &str, cfg: Config, until: &[&'static str]) -> Run {
    let started = Instant::now();
    let mut builder = Protocol { cfg }.checker();
    if !until.is_empty() {
        let names = until.iter().copied().collect::<BTreeSet<_>>();
        builder = builder.finish_when(HasDiscoveries::AllOf(names));
    }
    let checker = builder.spawn_bfs().join();
    let states = checker.unique_state_count();
    println!(
        "{label}: {states} states ({} generated), depth {}, {:.1?}",
        checker.state_count(),
        checker.max_depth(),
        started.elapsed()
    );
    Run {
        checker: Box::new(checker),
    }
}

/// Asserts that the search finished, that no `always` or `eventually` property is violated,
/// and that every `sometimes` property named in `examples` has an example.
pub fn assert_holds(run: &Run, cfg: &Config, examples: &[&'static str]) {
    assert!(run.checker.done(), "the search did not finish");
    for p in crate::properties::all(cfg) {
        let found = run.found(p.name);
        match p.expectation {
            Expectation::Always | Expectation::Eventually => {
                if let Some(path) = found {
                    panic!("\"{}\" violated:\n{path}", p.name);
                }
            }
            Expectation::Sometimes if examples.contains(&p.name) => {
                assert!(found.is_some(), "no example of \"{}\"", p.name)
            }
            Expectation::Sometimes => {}
        }
    }
}

/// The defect `old` in scenario `cfg` violates `property`; the new design in the same scenario
/// violates nothing, and can finish a video there.
pub fn assert_defect(label: &str, cfg: Config, old: Old, property: &'static str) {
    let run = explore(&format!("{label}, old"), cfg.clone().with(old), &[property]);
    let path = run
        .found(property)
        .unwrap_or_else(|| panic!("{label}: no counterexample to \"{property}\""));
    println!("{label}: counterexample to \"{property}\":\n{path}");
    let run = explore(&format!("{label}, new"), cfg.clone(), &[]);
    assert_holds(&run, &cfg, &[crate::properties::CAN_FINISH]);
}
