#!/usr/bin/env bash
# Device set-up with the p11 command (the SoftHSM walkthroughs of an IoT/Greengrass device): a token, the device's
# PKCS#1 key and certificate imported with matching ids, the key's URI for the device's configuration file; then
# OpenSC's pkcs11-tool lists the objects and OpenSSL's pkcs11 engine signs with the key by that URI.
#
#   bash examples/device-setup.sh [WORKDIR]      # a throwaway SoftHSM store in WORKDIR (default: a temp dir)
#
# Needs: p11 (pip install p11), softhsm2, opensc, openssl, libengine-pkcs11-openssl.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/softhsm-store.sh"   # WORK, SOFTHSM2_CONF, P11_MODULE, P11; cd "$WORK"
(umask 077 && rm -f user.pin && printf '1234' > user.pin)   # 0600 from the start; no newline: libp11 reads it verbatim

# 1. A token on the first free slot (as softhsm2-util --init-token --free does); prints its URI and slot.
"$P11" init-token --free --label greengrass --so-pin 12345678 --pin-source user.pin

# 2. The device's key (PKCS#1, as AWS IoT hands it out) and certificate, imported straight: no conversion step.
openssl genrsa -traditional -out thing-key.pem 2048 2>/dev/null
openssl req -new -x509 -key thing-key.pem -subj /CN=thing -days 365 -out thing-cert.pem
"$P11" import thing-key.pem thing-cert.pem --token greengrass --label iotkey --id 0000 --pin-source user.pin
shred -u thing-key.pem 2>/dev/null || rm -f thing-key.pem   # the key now lives on the token only

# 3. The URI a configuration file wants (e.g. Greengrass's "privateKeyPath").
URI="$("$P11" uri --token greengrass --label iotkey --type private --only object,type --pin-source user.pin)"
echo "key URI: $URI"

# 4. Other tools see and use the key.
pkcs11-tool --module "$P11_MODULE" --token-label greengrass --login --pin "$(cat user.pin)" --list-objects
cat > engine.cnf <<CNF
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
MODULE_PATH = $P11_MODULE
init = 0
CNF
echo "telemetry" > data.txt
OPENSSL_CONF=engine.cnf openssl dgst -engine pkcs11 -keyform engine -sign "$URI;pin-source=file:$WORK/user.pin" \
  -sha256 -out data.sig data.txt 2>/dev/null
openssl x509 -in thing-cert.pem -pubkey -noout > thing-pub.pem
openssl dgst -sha256 -verify thing-pub.pem -signature data.sig data.txt
