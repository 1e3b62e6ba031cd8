//! Examples and benchmark commands for plexus; see the `[[example]]`s of this package.
