"""L2UL, client side: the ``train.l2ul`` handler (see strategies/methods/l2ul.py); the work is
:func:`fedunlearn.algorithms.l2ul.unlearn`."""

from __future__ import annotations

from flwr.app import Context, Message

from fedunlearn.algorithms.l2ul import L2ulSettings, unlearn

from ..job import ClientJob


def instance_unlearning(message: Message, context: Context) -> Message:
    job = ClientJob.from_message(message, context)
    x, y = job.arrays("forget")
    model = job.model()
    done = unlearn(model, x, y, job.federation.data.num_classes, L2ulSettings.from_config(job.config), job.seed)
    return job.reply(model, num_examples=len(y), steps=done["steps"], **{
        "forget-acc": done["forget_acc"], "adversarial-examples": done["adversarial_examples"]})


def register(app) -> None:
    app.train("l2ul")(instance_unlearning)
