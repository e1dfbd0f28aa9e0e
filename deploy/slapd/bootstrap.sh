#!/bin/sh
# Starts slapd for the compose stack. On the first start (empty data directory) it writes slapd.conf and loads
# the suffix, the people OU, the default password policy (pwdLockout TRUE, so pwdAccountLockedTime blocks binds;
# pwdMaxFailure 0, so only an administrator's lock does) and the demo users. Later starts reuse the data.
#
#   LDAP_ADMIN_PASSWORD   required: the rootdn's password (cn=admin,<LDAP_ROOT>)
#   LDAP_ROOT             default dc=example,dc=org
#   LDAP_USERS            demo users as uid:password pairs, space-separated (default: none)
#   SLAPD_DATA_DIR        default /var/lib/are-slapd
#   SLAPD_PORT            default 1389 (the container runs unprivileged)
set -eu

: "${LDAP_ADMIN_PASSWORD:?LDAP_ADMIN_PASSWORD must be set}"
ROOT="${LDAP_ROOT:-dc=example,dc=org}"
DATA="${SLAPD_DATA_DIR:-/var/lib/are-slapd}"
PORT="${SLAPD_PORT:-1389}"
MODULES="${SLAPD_MODULE_PATH:-/usr/lib/ldap}"
SCHEMA="${SLAPD_SCHEMA_DIR:-/etc/ldap/schema}"
ADMIN="cn=admin,${ROOT}"
DC=$(echo "$ROOT" | sed -e 's/^dc=//I' -e 's/,.*$//')

mkdir -p "$DATA/db"
if [ ! -f "$DATA/db/data.mdb" ]; then
  echo "slapd-bootstrap: first start, loading ${ROOT}"
  HASH=$(slappasswd -s "$LDAP_ADMIN_PASSWORD")
  cat > "$DATA/slapd.conf" <<CONF
include ${SCHEMA}/core.schema
include ${SCHEMA}/cosine.schema
include ${SCHEMA}/inetorgperson.schema
include ${SCHEMA}/nis.schema
modulepath ${MODULES}
moduleload back_mdb
moduleload ppolicy
pidfile ${DATA}/slapd.pid
argsfile ${DATA}/slapd.args

database mdb
suffix "${ROOT}"
rootdn "${ADMIN}"
rootpw ${HASH}
directory ${DATA}/db
maxsize 1073741824
overlay ppolicy
ppolicy_default "cn=default,ou=policies,${ROOT}"
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by anonymous auth
CONF
  {
    printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: %s\no: %s\n\n' "$ROOT" "$DC" "$DC"
    printf 'dn: ou=users,%s\nobjectClass: organizationalUnit\nou: users\n\n' "$ROOT"
    printf 'dn: ou=policies,%s\nobjectClass: organizationalUnit\nou: policies\n\n' "$ROOT"
    printf 'dn: cn=default,ou=policies,%s\nobjectClass: organizationalRole\nobjectClass: pwdPolicy\ncn: default\n' "$ROOT"
    printf 'pwdAttribute: userPassword\npwdLockout: TRUE\npwdMaxFailure: 0\n\n'
    for pair in ${LDAP_USERS:-}; do
      uid=${pair%%:*}
      password=${pair#*:}
      printf 'dn: uid=%s,ou=users,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\n' \
        "$uid" "$ROOT" "$uid" "$uid" "$uid"
      printf 'mail: %s@%s\nuserPassword: %s\n\n' "$uid" "$(echo "$ROOT" | sed -e 's/dc=//Ig' -e 's/,/./g')" \
        "$(slappasswd -s "$password")"
    done
  } > "$DATA/bootstrap.ldif"
  slapadd -q -f "$DATA/slapd.conf" -l "$DATA/bootstrap.ldif"
  rm -f "$DATA/bootstrap.ldif"
fi

# In the foreground (-d), so that slapd is the container's main process and gets its SIGTERM.
exec slapd -d "${SLAPD_DEBUG:-0}" -h "ldap://0.0.0.0:${PORT}/" -f "$DATA/slapd.conf"
