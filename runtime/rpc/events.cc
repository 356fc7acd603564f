#include "parley/events.h"

namespace parley {

absl::string_view EventTypeName(EventType type) {
  switch (type) {
    case EventType::kConnected:
      return "Connected";
    case EventType::kDisconnected:
      return "Disconnected";
    case EventType::kReconnecting:
      return "Reconnecting";
    case EventType::kResumed:
      return "Resumed";
    case EventType::kNewSession:
      return "NewSession";
    case EventType::kAckFailed:
      return "AckFailed";
    case EventType::kBackpressureWait:
      return "BackpressureWait";
    case EventType::kBackpressureResume:
      return "BackpressureResume";
    case EventType::kError:
      return "Error";
    case EventType::kStopped:
      return "Stopped";
  }
  return "Unknown";
}

}  // namespace parley
