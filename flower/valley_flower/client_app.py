"""The ClientApp: a SuperNode's client trains the global model on its partition through the
`valley` package, with the run's client objective.

Its partition comes from its node config (`partition-id`, `num-partitions`): valley's
partitioner splits the training set exactly as `valley fed --seed SEED` does, and the client
trains as client `partition-id` of that run (same batch order), so a Flower run and `valley fed`
with the same settings give every client the same data and the same local steps. FedDyn's
correction and MOON's previous model stay on the node, in the run's context state.
"""

from flwr.app import Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

import valley

from .task import Settings, from_record, to_record

app = ClientApp()

STATE_KEY = "valley-client-state"
_cache = {}


def _data(settings):
    """The dataset, loaded once per process and settings."""
    key = (settings.dataset, settings.data_dir, settings.train_limit, settings.test_limit, settings.seed)
    if key not in _cache:
        _cache.clear()
        data = settings.dataset_()
        _cache[key] = (data, data.labels())
    return _cache[key]


@app.train()
def train(msg: Message, context: Context):
    s = Settings.from_run_config(context.run_config)
    cid, k = int(context.node_config["partition-id"]), int(context.node_config["num-partitions"])
    if k != s.clients or not 0 <= cid < k:
        raise valley.ValleyError(
            f"this SuperNode is partition {cid} of {k}, but the run has {s.clients} clients; "
            f"start the SuperNodes with --node-config \"partition-id=I num-partitions={s.clients}\"")
    data, labels = _data(s)
    model = s.model_config(data)
    part = valley.partition(labels, data.num_classes, k, s.partition, s.seed)[cid]
    rnd = int(msg.content["config"]["server-round"])
    state = from_record(context.state[STATE_KEY]) if STATE_KEY in context.state else None
    client = valley.Client(data, model, s.algorithm, coef=s.coef, reduce=s.reduce)
    weights, stats, new_state = client.fit(
        from_record(msg.content["arrays"]), part, client=cid, round=rnd, seed=s.seed, epochs=s.local_epochs,
        batch_size=s.batch_size, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay, state=state)
    if new_state:
        context.state[STATE_KEY] = to_record(new_state)
    metrics = MetricRecord({
        "num-examples": stats["num_examples"],
        "train-loss": stats["train_loss"],
        "reg-term": stats["reg_term"],
        "ssr": stats["ssr"],
        "steps": stats["steps"],
        "planned-steps": stats["planned_steps"],
        "client": cid,
    })
    return Message(content=RecordDict({"arrays": to_record(weights), "metrics": metrics}), reply_to=msg)
