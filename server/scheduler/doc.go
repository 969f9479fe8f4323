// Package scheduler fires schedules. Every master runs a Scheduler over
// every enabled schedule; each fire time becomes tasks once, whichever
// masters are up:
//
//   - A fire time is claimed on the bus (wire.FireClaimKey, Redis SET NX
//     with an expiry, or the in-process equivalent) before anything is
//     created. The masters that lose the claim do nothing more, unless the
//     winner never says it finished.
//   - The winner creates the tasks, records the fire on the schedule and
//     then claims wire.FireDoneKey. A loser looks once more, ClaimTTL after
//     the fire time: if nobody claimed the done key, the winner died on the
//     way and the loser completes the fire itself.
//   - Tasks a fire creates have ids derived from the schedule, the fire
//     time and the node (TaskID), and the store refuses a second task with
//     an id it has (store.ErrConflict). So even a winner that was only slow,
//     not dead, and a loser that took over end in one task, not two.
//
// Fire times come from the cron expression alone (Spec), never from when
// a master looked, so every master names the same ones. Schedules are
// loaded at start and reloaded one by one when a change event arrives
// (Changed), so an edit on one master is seen by the others at once.
//
// Goroutines: Run owns the loop (one goroutine: timers, reloads, handing
// due fires to workers) and Workers firing goroutines; all end when Run's
// context ends, and Run returns after them.
package scheduler
