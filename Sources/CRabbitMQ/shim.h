#ifndef CRABBITMQ_SHIM_H
#define CRABBITMQ_SHIM_H
// The rabbitmq-c door. Only the Swift module `AMQP` imports this module.
// rabbitmq-c >= 0.12 moved its headers to <rabbitmq-c/...>; Debian bookworm ships 0.11 (flat layout).
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/framing.h>
#include <rabbitmq-c/tcp_socket.h>
#else
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#endif
#include <sys/time.h>

// amqp_login() is C-variadic, which Swift cannot call: wrap the PLAIN form.
static inline amqp_rpc_reply_t swift_amqp_login_plain(amqp_connection_state_t state,
                                                      const char *vhost, int channel_max,
                                                      int frame_max, int heartbeat,
                                                      const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat,
                      AMQP_SASL_METHOD_PLAIN, user, password);
}

#endif
