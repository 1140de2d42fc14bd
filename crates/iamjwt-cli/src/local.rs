//! Local-mode configuration: the same `IAMJWT_*` variables as in Lambda, with embedded defaults, recorded in the
//! state directory by `serve` so that `rotate` publishes documents for the same issuer and algorithms.

use crate::error::Error;
use iamjwt_core::config::Settings;
use iamjwt_lambda::rotate::RotateHandler;
use iamjwt_local::keys::SoftKeyStore;
use iamjwt_local::layout;
use iamjwt_local::publisher::DirPublisher;
use iamjwt_local::runner::LocalRotation;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const SETTINGS_FILE: &str = "settings.json";

/// Defaults that make sense on one machine.
fn defaults(issuer: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("IAMJWT_ISSUER".to_owned(), issuer.to_owned()),
        (
            "IAMJWT_DEFAULT_AUDIENCE".to_owned(),
            "sts.amazonaws.com".to_owned(),
        ),
        // Rotations from another process show up within a second.
        ("IAMJWT_KEY_REFRESH_SECONDS".to_owned(), "1".to_owned()),
    ])
}

fn env_overrides() -> impl Iterator<Item = (String, String)> {
    std::env::vars().filter(|(k, _)| k.starts_with("IAMJWT_"))
}

fn parse(map: &BTreeMap<String, String>) -> Result<Settings, Error> {
    Ok(Settings::from_lookup(|k| map.get(k).cloned())?)
}

/// For `serve`: defaults, then the environment; recorded in the state directory.
pub fn serve_settings(state: &Path, issuer: &str) -> Result<Settings, Error> {
    let mut map = defaults(issuer);
    map.extend(env_overrides());
    let settings = parse(&map)?;
    let bytes = serde_json::to_vec_pretty(&map).map_err(|e| Error::Usage(e.to_string()))?;
    iamjwt_local::fsutil::write_atomic(&state.join(SETTINGS_FILE), &bytes, 0o600)?;
    Ok(settings)
}

/// For `rotate`: what `serve` recorded (or the defaults), then the environment.
pub fn recorded_settings(state: &Path) -> Result<Settings, Error> {
    let path = state.join(SETTINGS_FILE);
    let mut map = match iamjwt_local::fsutil::read_optional(&path)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?,
        None => defaults("http://127.0.0.1:8080"),
    };
    map.extend(env_overrides());
    parse(&map)
}

/// The rotation runner over a state directory.
pub fn rotation(settings: &Settings, state: &Path) -> LocalRotation {
    let store = Arc::new(SoftKeyStore::new(state));
    let publisher = Arc::new(DirPublisher::new(
        layout::public_dir(state),
        settings.jwks_max_age,
    ));
    LocalRotation::new(RotateHandler::new(settings, store, publisher), state)
}
