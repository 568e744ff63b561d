"""joule.HFPowerLimitCallback, the Hugging Face TrainerCallback, without
transformers installed: a stand-in `transformers` module (with a
TrainerCallback base class like the real one) is put in sys.modules, the
package is reloaded, and a loop that calls the events the way
transformers' Trainer and CallbackHandler do drives the power-limit
optimizer on simulated GPUs."""

import importlib
import sys
import types
import unittest

import joule
from joule import _lib

WORK_PER_STEP = 0.02  # full-speed seconds of simulated work per step

# The events transformers' TrainerCallback defines, in the order Trainer
# calls them (trainer_callback.py); each does nothing by default.
EVENTS = ("on_init_end", "on_train_begin", "on_epoch_begin", "on_step_begin",
          "on_pre_optimizer_step", "on_optimizer_step", "on_substep_end",
          "on_step_end", "on_log", "on_evaluate", "on_predict", "on_save",
          "on_epoch_end", "on_train_end", "on_prediction_step")


def make_stub_transformers():
    mod = types.ModuleType("transformers")

    class TrainerCallback:
        pass

    def noop(self, args, state, control, **kwargs):
        return None

    for event in EVENTS:
        setattr(TrainerCallback, event, noop)
    TrainerCallback.__module__ = "transformers.trainer_callback"
    mod.TrainerCallback = TrainerCallback
    return mod


class TrainerState:
    def __init__(self):
        self.global_step = 0
        self.epoch = 0.0


class TrainerControl:
    should_log = should_save = should_evaluate = should_training_stop = False


class CallbackHandler:
    """Calls every callback's event with the arguments transformers'
    CallbackHandler.call_event passes (a returned control replaces it)."""

    def __init__(self, callbacks):
        self.callbacks = callbacks
        self.optimizer = object()  # the torch optimizer, passed as a kwarg
        self.calls = []

    def call(self, event, args, state, control, **kwargs):
        for cb in self.callbacks:
            result = getattr(cb, event)(
                args, state, control, model=None, processing_class=None,
                optimizer=self.optimizer, lr_scheduler=None,
                train_dataloader=None, eval_dataloader=None, **kwargs)
            self.calls.append((event, result))
            if result is not None:
                control = result
        return control


def hf_train(handler, monitor, epochs, steps_per_epoch, accumulation=2):
    """The shape of Trainer._inner_training_loop: on_step_begin once per
    optimizer step, on_substep_end between accumulated micro-batches."""
    args, state = object(), TrainerState()
    control = handler.call("on_init_end", args, state, TrainerControl())
    control = handler.call("on_train_begin", args, state, control)
    for epoch in range(epochs):
        control = handler.call("on_epoch_begin", args, state, control)
        for _ in range(steps_per_epoch):
            control = handler.call("on_step_begin", args, state, control)
            for micro in range(accumulation):
                start = joule.sim.work_done(monitor, 0)
                while (joule.sim.work_done(monitor, 0) - start <
                       WORK_PER_STEP / accumulation):
                    pass
                if micro < accumulation - 1:
                    control = handler.call("on_substep_end", args, state,
                                           control)
            control = handler.call("on_pre_optimizer_step", args, state,
                                   control)
            control = handler.call("on_optimizer_step", args, state, control)
            state.global_step += 1
            state.epoch = epoch + state.global_step / steps_per_epoch
            control = handler.call("on_step_end", args, state, control)
            control = handler.call("on_log", args, state, control,
                                   logs={"loss": 1.0})
        control = handler.call("on_epoch_end", args, state, control)
        control = handler.call("on_evaluate", args, state, control,
                               metrics={"eval_loss": 1.0})
        control = handler.call("on_save", args, state, control)
    handler.call("on_train_end", args, state, control)
    return state


def zeus_cost(eta, p_max, n_gpus, time_s, energy_j):
    return eta * energy_j + (1 - eta) * p_max * n_gpus * time_s


class StubTransformers(unittest.TestCase):
    """Installs the stand-in transformers for each test and puts the
    package back as it was afterwards."""

    def setUp(self):
        had = "transformers" in sys.modules
        saved = sys.modules.get("transformers")
        self.stub = make_stub_transformers()
        sys.modules["transformers"] = self.stub

        def restore():
            if had:
                sys.modules["transformers"] = saved
            else:
                sys.modules.pop("transformers", None)
            importlib.reload(joule.optimizer)
            importlib.reload(joule)
        self.addCleanup(restore)


@unittest.skipUnless(_lib.has("joule_plo_create"),
                     "libjoule has no power-limit optimizer")
class HFPowerLimitCallbackTest(StubTransformers):
    def test_reexported_from_joule_after_reload(self):
        importlib.reload(joule.optimizer)
        importlib.reload(joule)
        from joule import HFPowerLimitCallback
        self.assertIs(HFPowerLimitCallback, joule.HFPowerLimitCallback)
        self.assertIs(HFPowerLimitCallback, joule.optimizer.HFPowerLimitCallback)
        # Zeus's name for it
        self.assertIs(joule.optimizer.HFGlobalPowerLimitOptimizer,
                      HFPowerLimitCallback)
        self.assertTrue(issubclass(HFPowerLimitCallback,
                                   self.stub.TrainerCallback))
        self.assertEqual(HFPowerLimitCallback.__module__, "joule.optimizer")

    def test_trainer_events_drive_the_optimizer(self):
        cls = joule.HFPowerLimitCallback
        with joule.Monitor(devices="sim:2:h100", sync=None) as m:
            for gpu in (0, 1):
                joule.sim.set_load(m, gpu, 1.0)
            # exactly profile_steps per window: the step counts below
            plo = joule.PowerLimitOptimizer(m, warmup_steps=1, profile_steps=4,
                                            pl_step=125, target_uncertainty=0)
            cb = cls(plo)
            self.assertIsInstance(cb, self.stub.TrainerCallback)
            self.assertIs(cb.optimizer, plo)
            handler = CallbackHandler([cb])
            # 5 limits x (1 + 4) steps = 25 steps; an epoch of 12 steps
            # ends mid-profile twice, and those limits are retried.
            state = hf_train(handler, m, epochs=4, steps_per_epoch=12)
            self.assertEqual(state.global_step, 48)
            self.assertEqual({e for e, _ in handler.calls}, set(EVENTS) -
                             {"on_predict", "on_prediction_step"})
            self.assertTrue(all(r is None for _, r in handler.calls))
            self.assertEqual(plo.state, "done")
            ms = plo.measurements
            self.assertEqual([pl for pl, _, _ in ms], [700, 575, 450, 325, 200])
            best = min(ms, key=lambda x: zeus_cost(0.5, 700, 2, x[1], x[2]))
            self.assertEqual(plo.optimal_power_limit, best[0])
            self.assertEqual(plo.power_limit, best[0])

    def test_made_from_a_monitor_like_zeus(self):
        # Zeus: HFGlobalPowerLimitOptimizer(monitor, optimum_selector=...,
        # wait_steps=..., ...) makes its own optimizer.
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            joule.sim.set_load(m, 0, 1.0)
            cb = joule.HFPowerLimitCallback(
                m, optimum_selector=joule.MaxSlowdownConstraint(1.5),
                wait_steps=1, warmup_steps=1, profile_steps=3, pl_step=250,
                target_uncertainty=0)
            plo = cb.optimizer
            self.assertIsInstance(plo, joule.PowerLimitOptimizer)
            self.assertEqual(plo.selector, "slowdown:1.5")
            handler = CallbackHandler([cb])
            args, st, ctl = object(), TrainerState(), TrainerControl()
            handler.call("on_train_begin", args, st, ctl)
            handler.call("on_step_begin", args, st, ctl)
            self.assertEqual(plo.state, "ready")  # the one wait step
            handler.call("on_step_begin", args, st, ctl)
            self.assertEqual(plo.state, "warmup")
            hf_train(handler, m, epochs=2, steps_per_epoch=10)
            self.assertTrue(plo.done)
            ms = plo.measurements
            self.assertEqual([pl for pl, _, _ in ms], [700, 450, 200])
            t_max = ms[0][1]
            feasible = [x for x in ms if x[1] <= 1.5 * t_max]
            self.assertEqual(plo.optimal_power_limit,
                             min(feasible, key=lambda x: x[2])[0])

    def test_bad_arguments(self):
        cls = joule.HFPowerLimitCallback
        with self.assertRaises(TypeError):
            cls("not an optimizer")
        with joule.Monitor(devices="sim:1:h100", sync=None) as m:
            plo = joule.PowerLimitOptimizer(m, profile_steps=2)
            with self.assertRaises(TypeError):
                cls(plo, warmup_steps=3)  # options belong to the optimizer
            with self.assertRaises(ValueError):
                cls(m, wait_steps=-1)
            plo.close()
            cb = cls(plo)
            with self.assertRaises(joule.InvalidArgumentError):
                cb.on_step_begin(object(), TrainerState(), TrainerControl())


class WithoutTransformers(unittest.TestCase):
    def test_absent_when_transformers_cannot_be_imported(self):
        saved = sys.modules.get("transformers", None)
        had = "transformers" in sys.modules
        sys.modules["transformers"] = None  # makes "import transformers" fail

        def restore():
            if had:
                sys.modules["transformers"] = saved
            else:
                sys.modules.pop("transformers", None)
        self.addCleanup(restore)
        self.assertFalse(hasattr(joule, "HFPowerLimitCallback"))
        self.assertFalse(hasattr(joule.optimizer, "HFPowerLimitCallback"))
        with self.assertRaises(ImportError):
            from joule import HFPowerLimitCallback  # noqa: F401
        with self.assertRaises(AttributeError) as cm:
            joule.HFPowerLimitCallback
        self.assertIn("transformers", str(cm.exception))
        self.assertNotIn("HFPowerLimitCallback", joule.__all__)
        # the rest of the package is unaffected
        self.assertTrue(callable(joule.PowerLimitOptimizer))


if __name__ == "__main__":
    unittest.main()
