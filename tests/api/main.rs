//! Integration tests over real HTTP against `cloudrun serve`.
