# The controller image deploy/ runs: a release build, then only the binary on a minimal,
# non-root runtime (distroless: CA certificates and glibc, no shell, no package manager).
#   docker build -t REGISTRY/airlock:TAG .
# deploy/ runs as uid/gid 65532, which is distroless's `nonroot` user, with a read-only root
# filesystem; the binary needs nothing writable but the volumes deploy/ mounts. It is built
# without the `dev` feature: no `airlock dev`, no emulators, no fault injection in the image.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir -p src benches && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && for b in intake scan controller domains advisories dev_apiserver; do echo 'fn main() {}' > benches/$b.rs; done \
    && cargo build --release --locked --no-default-features --bin airlock || true
COPY src ./src
COPY crds ./crds
COPY examples ./examples
COPY deploy ./deploy
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --no-default-features --bin airlock \
    && install -D target/release/airlock /out/airlock

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/airlock /usr/local/bin/airlock
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/airlock"]
CMD ["controller"]
