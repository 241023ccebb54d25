#!/bin/sh
# Give a running RabbitMQ the platform's topology (definitions.json: the vhost, exchanges,
# pre-declared quorum queues, policy) and the services' user, through the management API.
# compose.yaml runs it as the rabbitmq-setup service, Kubernetes as the rabbitmq-setup Job.
# Repeating it is harmless: the API adds and updates, it never deletes.
#
#   RABBITMQ_API                 http://rabbitmq:15672/api (the default)
#   RABBITMQ_ADMIN_USER          an administrator: the broker's default user
#   RABBITMQ_ADMIN_PASSWORD
#   RABBITMQ_PASSWORD            the password of the user `mutual-aid` the services log in as
#                                (the one in AMQP_URI); letters and digits only
#
# Why not load definitions.json at the broker's boot: a node that imports definitions on boot
# creates no default user, so the file would have to carry password hashes.
set -eu
api=${RABBITMQ_API:-http://rabbitmq:15672/api}
here=$(dirname "$0")

call() {
    curl --fail-with-body --silent --show-error \
        -u "$RABBITMQ_ADMIN_USER:$RABBITMQ_ADMIN_PASSWORD" \
        -H "content-type: application/json" "$@"
}

tries=0
until call --output /dev/null "$api/overview"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "apply-definitions: no answer from $api" >&2
        exit 1
    fi
    sleep 2
done

case "$RABBITMQ_PASSWORD" in
    *[!A-Za-z0-9]*|"") echo "apply-definitions: RABBITMQ_PASSWORD must be letters and digits" >&2; exit 1 ;;
esac
# the user first: definitions.json grants it the vhost
call -X PUT --data "{\"password\": \"$RABBITMQ_PASSWORD\", \"tags\": \"\"}" "$api/users/mutual-aid"
call -X POST --data @"$here/definitions.json" "$api/definitions"
echo "apply-definitions: topology and user mutual-aid applied to $api"
