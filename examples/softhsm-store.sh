# Sourced by the shell examples: a throwaway SoftHSM token store in WORK (the example's first argument, else a new
# temporary directory), SOFTHSM2_CONF and P11_MODULE pointing at it, P11 naming the p11 command, and the current
# directory there. Against a real HSM, skip this and set P11_MODULE to its module instead.
P11="${P11:-p11}"
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK/tokens" && cd "$WORK"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$WORK" > softhsm2.conf
export SOFTHSM2_CONF="$WORK/softhsm2.conf"
export P11_MODULE="${P11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
