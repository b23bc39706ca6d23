#!/usr/bin/env bash
# An HSM-backed CA with the p11 command: root and intermediate CA keys generated on the token (EC P-384,
# SHA-512), a server certificate issued from a CSR, and the chain checked by openssl verify: three p11
# commands after init-token, on p11.pki (CA directories with an index).
#
#   bash examples/hsm-ca.sh [WORKDIR]      # a throwaway SoftHSM store in WORKDIR (default: a temp dir)
#
# Needs: p11 (pip install p11), softhsm2, openssl.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/softhsm-store.sh"   # WORK, SOFTHSM2_CONF, P11_MODULE, P11; cd "$WORK"
export P11_PIN=1234   # for the example; a real CA reads it from a file (--pin-source) or asks
"$P11" init-token --free --label ca --so-pin 12345678 --pin "$P11_PIN"

# 1. Root CA: key generated on the token, self-signed certificate; the CA's directory keeps the certificate,
#    the key's URI (never the PIN) and the index of what it issues.
"$P11" selfsign --ca-dir root-ca --token ca --label root --new-key ec-p384 --hash sha512 \
  --subject "CN=Example Root CA,O=Example" --out root.pem
# 2. Intermediate CA: its key generated on the token too, its certificate signed by the root (pathlen 0).
"$P11" issue --ca-dir root-ca --profile intermediate --new-ca-dir issuing-ca --token ca --label intermediate \
  --new-key ec-p384 --hash sha512 --subject "CN=Example Intermediate CA,O=Example" --out intermediate.pem
# A web server makes its own key and CSR, as it would anywhere.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout server-key.pem \
  -subj /CN=server.example -out server.csr 2>/dev/null
# 3. The intermediate signs the server's certificate (profile server: serverAuth, SAN).
"$P11" issue server.csr --ca-dir issuing-ca --profile server --san DNS:server.example --out server.pem

openssl verify -CAfile root.pem -untrusted intermediate.pem server.pem
