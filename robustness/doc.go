// Package robustness is the robustness harness of mongosession: for each
// face (scs, gorilla, fiber, the native manager) it runs two app
// instances on one collection, each with its own client, behind a TCP
// proxy that injects faults (latency, stalls, cut connections, the server
// stopped and restarted); virtual browsers and an attacker send random
// requests with random pauses; every request's invocation and response
// time, cookie and answer go into a History, and Check decides the
// history against the face's contract (see Check).
//
// It uses the library's public API only, and lives in a module of its own
// so that porcupine and the frameworks stay out of the library's build
// list. Its tests are the harness's short run; README's Reliability
// section says how to run the long one.
package robustness
