# Carina's image for those who build with Docker. `make image` builds the
# same image without a container engine (deploy/image).
#   docker build --build-arg VERSION=$(git describe --tags --always) -t carina .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/carina-gitops/carina/internal/version.Version=${VERSION} -X github.com/carina-gitops/carina/internal/version.Commit=${COMMIT}" \
      -o /out/carina ./cmd/carina \
 && mkdir -p /out/tmp /out/home/nonroot \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /out/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /out/group

FROM scratch
ARG VERSION=dev
ARG COMMIT=
LABEL org.opencontainers.image.title="carina" \
      org.opencontainers.image.description="Carina, a GitOps agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.source="https://github.com/carina-gitops/carina" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build --chmod=1777 /out/tmp /tmp
COPY --from=build --chown=65532:65532 /out/home/nonroot /home/nonroot
COPY --from=build /out/carina /usr/local/bin/carina
ENV PATH=/usr/local/bin HOME=/home/nonroot SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/carina"]
CMD ["agent", "--config", "/etc/carina/carina.yaml"]
