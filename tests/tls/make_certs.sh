#!/usr/bin/env bash
# Makes the certificates the TLS tests need, with the openssl command, in DIR (nothing secret is
# committed). Usage: make_certs.sh DIR
#   ca.pem ca.key              the test CA
#   server.pem server.key      CN=localhost, SAN localhost, 127.0.0.1, ::1; signed by the CA
#   client.pem client.key      CN=wire test client, for client authentication; signed by the CA
#   expired.pem expired.key    as server, but valid only in 2020
#   wronghost.pem wronghost.key  signed by the CA for wrong.example only
#   unknown.pem unknown.key    as server, but signed by another CA nobody trusts
#   self.pem self.key          self-signed for localhost
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
san_server="subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"

ca() {  # NAME CN
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 2 -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() {  # NAME CN CA EXTENSION...
  local name=$1 cn=$2 issuer=$3
  shift 3
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  printf '%s\n' "$@" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" -CAcreateserial \
    -days 2 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
}

ca ca "wire test CA"
ca other-ca "someone else's CA"
leaf server localhost ca "$san_server" extendedKeyUsage=serverAuth
leaf client "wire test client" ca extendedKeyUsage=clientAuth
leaf wronghost wrong.example ca "subjectAltName=DNS:wrong.example" extendedKeyUsage=serverAuth
leaf unknown localhost other-ca "$san_server" extendedKeyUsage=serverAuth
key self.key
openssl req -x509 -new -key self.key -subj "/CN=localhost" -days 2 -addext "$san_server" \
  -out self.pem

# Expired: `openssl x509` (3.0) cannot set past dates; `openssl ca` can.
key expired.key
openssl req -new -key expired.key -subj "/CN=localhost" -out expired.csr
mkdir -p ca-db && : >ca-db/index.txt && echo 01 >ca-db/serial
cat >ca-db/ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = server
[any]
commonName = supplied
[server]
$san_server
extendedKeyUsage = serverAuth
CNF
openssl ca -batch -notext -config ca-db/ca.cnf -cert ca.pem -keyfile ca.key \
  -startdate 20200101000000Z -enddate 20200102000000Z -in expired.csr -out expired.pem 2>/dev/null
rm -f ./*.csr ./*.ext
