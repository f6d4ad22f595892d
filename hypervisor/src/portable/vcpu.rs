//! A vCPU apart from the CPU it runs on: its registers while no CPU holds them, and its state
//! machine.
//!
//! ```text
//!            start(pc, x0)            take(cpu)
//!   Off ─────────────────> Starting ───────────> Running{cpu} ──block()──> Blocked{cpu}
//!   (start also from Runnable, Running, Blocked and Waiting: PSCI already checked; the CPU
//!    that held the vCPU sees the new start at its next exit and lets go)
//!    ^                                 take(cpu)  │   ^  │  ^                   │
//!    │                     Runnable ─────────────-┘   │  │  └─── take(cpu) ─────┘
//!    │                      ^  ^ └── preempt(regs) ───┘  │ park(regs)
//!    │                      │  └──── wake() ──── Waiting <┘
//!    └── stop() from any state; leave(cpu) from Running/Blocked/Stopping on that CPU
//!
//!   stop() of a vCPU a CPU holds: Running{cpu}/Blocked{cpu} ──> Stopping{cpu} ──leave(cpu)──> Off
//! ```
//!
//! A vCPU is held by a CPU while `Running`, `Blocked` or `Stopping` ([`Vcpu::holder`]): a
//! partition's memory is scrubbed and reloaded only once none of its vCPUs is held.
//!
//! `Blocked` waits in place (its CPU has nothing else to run: the null scheduler, or a
//! scheduler that shares CPUs while no other vCPU may run there); `Waiting` waits off any CPU
//! with its registers here, so its CPU can run another vCPU (a scheduler that shares CPUs). `wake` makes a waiting vCPU runnable; for one that is blocked or running
//! it only names the CPU to kick.
//!
//! Invariant: while a vCPU is `Running` or `Blocked` on a CPU, that CPU holds its registers
//! (the copy here is stale) and only that CPU changes them; in every other state the copy here
//! is the vCPU's. A state change another CPU makes (start, stop, wake) is followed by a kick
//! of the vCPU's CPU, which acts on it at its next pass through its loop.

use core::fmt;

use crate::arch::aarch64::context::VcpuRegisters;

/// Where a vCPU is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuState {
    /// Not started, or stopped (PSCI CPU_OFF, its partition stopped).
    Off,
    /// Started (its partition's boot, or PSCI CPU_ON): runs from `pc` with `x0` and every
    /// other register at reset when its CPU takes it.
    Starting { pc: u64, x0: u64 },
    /// Wants a CPU; its registers are saved here.
    Runnable,
    /// On CPU `cpu`, in the guest or in the hypervisor on its behalf.
    Running { cpu: usize },
    /// Waits on CPU `cpu` for an interrupt (a trapped WFI); its registers stay there.
    Blocked { cpu: usize },
    /// Waits for an interrupt off any CPU (a trapped WFI in a pool that shares CPUs); its
    /// registers are saved here.
    Waiting,
    /// Stopped (its partition stops or restarts) while CPU `cpu` still holds it: that CPU
    /// lets go at its next exit or wake-up ([`Vcpu::leave`]), and it cannot start before.
    Stopping { cpu: usize },
}

/// A transition the state machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuError {
    /// What was asked.
    pub operation: &'static str,
    /// The state it was asked in.
    pub state: VcpuState,
}

impl fmt::Display for VcpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} a vCPU that is {:?}", self.operation, self.state)
    }
}

/// What [`Vcpu::take`] hands the CPU that takes a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// A fresh start: the registers are at reset with the entry point and `x0` set, and the
    /// vCPU's interrupt state must be reset too.
    Fresh(VcpuRegisters),
    /// A vCPU that ran before: its saved registers.
    Saved(VcpuRegisters),
    /// Back on the CPU that holds its registers (it was blocked there): nothing to load.
    Resident,
}

/// What [`Vcpu::wake`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// It runs, or waits in place, on `cpu`: kick that CPU so it sees the new interrupt.
    Kick { cpu: usize },
    /// It waited off its CPU and is now runnable: its scheduler must find it a CPU.
    Runnable,
    /// Nothing to do: it is off, starting or already runnable.
    Nothing,
}

/// One vCPU of a partition.
#[derive(Clone, Debug)]
pub struct Vcpu {
    state: VcpuState,
    registers: VcpuRegisters,
    /// Bumped at every start: a CPU that took the vCPU before a later start sees the change.
    starts: u64,
}

impl Default for Vcpu {
    fn default() -> Self {
        Self::new()
    }
}

impl Vcpu {
    /// A vCPU that is off.
    pub const fn new() -> Self {
        Self { state: VcpuState::Off, registers: VcpuRegisters::at_entry(0, 0), starts: 0 }
    }

    /// Its state.
    pub const fn state(&self) -> VcpuState {
        self.state
    }

    /// How many times it was started; a CPU compares it with the value at its `take`.
    pub const fn starts(&self) -> u64 {
        self.starts
    }

    /// Its saved registers (stale while a CPU holds them).
    pub const fn registers(&self) -> &VcpuRegisters {
        &self.registers
    }

    /// Starts it at `pc` with `x0`. PSCI decides whether a vCPU may start (it refuses CPU_ON
    /// of one that is on); here a vCPU that a CPU still holds (it switched itself off and its
    /// CPU has not let go yet) starts afresh too: that CPU sees the new start at its next exit
    /// and lets go. A start not yet taken is refused, and so is a stopped vCPU whose CPU has
    /// not let go (its partition is stopping or restarting: the start belongs to the old run).
    pub fn start(&mut self, pc: u64, x0: u64) -> Result<(), VcpuError> {
        match self.state {
            VcpuState::Starting { .. } | VcpuState::Stopping { .. } => Err(VcpuError { operation: "start", state: self.state }),
            _ => {
                self.state = VcpuState::Starting { pc, x0 };
                self.starts = self.starts.wrapping_add(1);
                Ok(())
            }
        }
    }

    /// Whether CPU `cpu` still holds it as the start it took (`starts` at that time).
    pub fn held_by(&self, cpu: usize, starts: u64) -> bool {
        self.starts == starts && matches!(self.state, VcpuState::Running { cpu: c } | VcpuState::Blocked { cpu: c } if c == cpu)
    }

    /// Whether CPU `cpu` has something to do with it: take it, or resume it.
    pub const fn wants(&self, cpu: usize) -> bool {
        match self.state {
            VcpuState::Starting { .. } | VcpuState::Runnable => true,
            VcpuState::Blocked { cpu: holder } => holder == cpu,
            VcpuState::Off | VcpuState::Running { .. } | VcpuState::Waiting | VcpuState::Stopping { .. } => false,
        }
    }

    /// CPU `cpu` takes it to run it.
    pub fn take(&mut self, cpu: usize) -> Result<Taken, VcpuError> {
        let taken = match self.state {
            VcpuState::Starting { pc, x0 } => Taken::Fresh(VcpuRegisters::at_entry(pc, x0)),
            VcpuState::Runnable => Taken::Saved(self.registers),
            VcpuState::Blocked { cpu: holder } if holder == cpu => Taken::Resident,
            state => return Err(VcpuError { operation: "take", state }),
        };
        self.state = VcpuState::Running { cpu };
        Ok(taken)
    }

    /// The vCPU running on `cpu` waits for an interrupt there.
    pub fn block(&mut self, cpu: usize) -> Result<(), VcpuError> {
        match self.state {
            VcpuState::Running { cpu: holder } if holder == cpu => {
                self.state = VcpuState::Blocked { cpu };
                Ok(())
            }
            state => Err(VcpuError { operation: "block", state }),
        }
    }

    /// An interrupt arrived for it, or its timer expired: a waiting vCPU becomes runnable;
    /// for one on a CPU, the CPU to kick.
    pub fn wake(&mut self) -> Wake {
        match self.state {
            VcpuState::Waiting => {
                self.state = VcpuState::Runnable;
                Wake::Runnable
            }
            // A stopping vCPU's CPU is kicked too: it lets go sooner.
            VcpuState::Running { cpu } | VcpuState::Blocked { cpu } | VcpuState::Stopping { cpu } => Wake::Kick { cpu },
            VcpuState::Off | VcpuState::Starting { .. } | VcpuState::Runnable => Wake::Nothing,
        }
    }

    /// The vCPU running or blocked on `cpu` waits for an interrupt off the CPU, its registers
    /// saved here.
    pub fn park(&mut self, cpu: usize, registers: &VcpuRegisters) -> Result<(), VcpuError> {
        match self.state {
            VcpuState::Running { cpu: holder } | VcpuState::Blocked { cpu: holder } if holder == cpu => {
                self.registers = *registers;
                self.state = VcpuState::Waiting;
                Ok(())
            }
            state => Err(VcpuError { operation: "park", state }),
        }
    }

    /// The CPU that holds it (its registers, or its way out: `Stopping`), if one does: it has
    /// not left that CPU yet.
    pub const fn holder(&self) -> Option<usize> {
        match self.state {
            VcpuState::Running { cpu } | VcpuState::Blocked { cpu } | VcpuState::Stopping { cpu } => Some(cpu),
            VcpuState::Off | VcpuState::Starting { .. } | VcpuState::Runnable | VcpuState::Waiting => None,
        }
    }

    /// The vCPU leaves CPU `cpu` with its registers, and wants a CPU again (preemption, a
    /// yield, or a forced save and restore).
    pub fn preempt(&mut self, cpu: usize, registers: &VcpuRegisters) -> Result<(), VcpuError> {
        match self.state {
            VcpuState::Running { cpu: holder } | VcpuState::Blocked { cpu: holder } if holder == cpu => {
                self.registers = *registers;
                self.state = VcpuState::Runnable;
                Ok(())
            }
            state => Err(VcpuError { operation: "preempt", state }),
        }
    }

    /// Stops it, whatever it was doing; a CPU holding it keeps holding it (`Stopping`) until
    /// it leaves at its next exit.
    pub fn stop(&mut self) {
        self.state = match self.holder() {
            Some(cpu) => VcpuState::Stopping { cpu },
            None => VcpuState::Off,
        };
    }

    /// CPU `cpu` stops holding it (it stopped, or was stopped meanwhile). A vCPU started again
    /// meanwhile (`Starting`) stays so.
    pub fn leave(&mut self, cpu: usize) {
        if self.holder() == Some(cpu) {
            self.state = VcpuState::Off;
        }
    }
}

/// `CNTV_CTL_EL0.ENABLE`.
const CNTV_ENABLE: u64 = 1 << 0;
/// `CNTV_CTL_EL0.IMASK`.
const CNTV_IMASK: u64 = 1 << 1;

/// When a vCPU's virtual timer (`CNTV_CTL_EL0`, `CNTV_CVAL_EL0`) asserts its interrupt, as a
/// value of the physical counter (the virtual counter is the physical one less `cntvoff`):
/// `None` when it cannot (disabled or masked). A deadline already passed is returned as it is:
/// the caller's EL2 timer fires at once.
pub const fn virtual_timer_deadline(cntv_ctl: u64, cntv_cval: u64, cntvoff: u64) -> Option<u64> {
    if cntv_ctl & CNTV_ENABLE == 0 || cntv_ctl & CNTV_IMASK != 0 {
        return None;
    }
    Some(cntv_cval.wrapping_add(cntvoff))
}

#[cfg(test)]
#[path = "vcpu_tests.rs"]
mod tests;
