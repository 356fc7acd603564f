// RFC 6455 close codes as Parley uses them; shared by the session core
// (which decides) and the transport (which sends).
#ifndef PARLEY_RUNTIME_WIRE_CLOSE_CODES_H_
#define PARLEY_RUNTIME_WIRE_CLOSE_CODES_H_

#include <cstdint>

namespace parley::wire {

inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseUnsupportedData = 1003;
inline constexpr uint16_t kCloseAbnormal = 1006;  // never sent; socket lost
inline constexpr uint16_t kCloseInvalidPayload = 1007;
inline constexpr uint16_t kClosePolicyViolation = 1008;
inline constexpr uint16_t kCloseMessageTooBig = 1009;
inline constexpr uint16_t kCloseInternalError = 1011;
inline constexpr uint16_t kCloseTryAgainLater = 1013;
// Private-use range (RFC 6455 7.4.2): the peer did not answer a PING.
inline constexpr uint16_t kClosePeerUnresponsive = 4000;

}  // namespace parley::wire

#endif  // PARLEY_RUNTIME_WIRE_CLOSE_CODES_H_
