//! The role a command needs in one repository, pure: the server's floor from the command
//! table, raised (never lowered) by `.keyroll.yaml`'s top-level `roles:` and by the
//! credential's own `roles:`. The config's validation (`policy::resolve`) refuses a role
//! below either level, so taking the highest of the three here loosens nothing even for a
//! config built without it.

use super::{Invocation, Place, Role, TABLE, Verb};
use crate::policy::{Config, Credential};

/// The role `inv` needs: the highest of the server's floor ([`Invocation::role_needed`],
/// operator for an emergency rotation), the config's top-level `roles:` and `cred`'s.
pub fn needed_role(inv: &Invocation, config: Option<&Config>, cred: Option<&Credential>) -> Role {
    configured_role(inv.verb, config, cred).map_or(inv.role_needed(), |r| r.max(inv.role_needed()))
}

/// The role the config names for `verb`, the higher of the top level and `cred`'s; `None`
/// when neither names one. (`confirm` uses it apart from the floor: a gate's own people
/// need it too once the config names it.)
pub fn configured_role(
    verb: Verb,
    config: Option<&Config>,
    cred: Option<&Credential>,
) -> Option<Role> {
    let top = config.and_then(|c| c.roles.get(&verb).copied());
    let own = cred.and_then(|c| c.roles.get(&verb).copied());
    top.max(own)
}

/// The role a routine (not emergency) use of `verb` needs, for the help table.
pub(super) fn verb_role(verb: Verb, config: Option<&Config>, cred: Option<&Credential>) -> Role {
    let floor = super::spec(verb).role;
    configured_role(verb, config, cred).map_or(floor, |r| r.max(floor))
}

/// `` `rotate` of `payments`: admin `` for every verb that works at `place` and that a
/// credential asks more for than the top level does, in table then credential order.
pub(super) fn credentials_asking_more(config: &Config, place: Place) -> Vec<String> {
    let mut out = Vec::new();
    for s in TABLE.iter().filter(|s| s.works_at(place)) {
        let here = verb_role(s.verb, Some(config), None);
        for c in &config.credentials {
            let theirs = verb_role(s.verb, Some(config), Some(c));
            if theirs > here {
                out.push(format!("`{}` of `{}`: {theirs}", s.name, c.name));
            }
        }
    }
    out
}
