import { component } from "@prismatic-io/spectral";
import actions from "./actions";
import connections from "./connections";
import dataSources from "./dataSources";
import triggers from "./triggers";

export default component({
  key: "syncline",
  public: false,
  display: {
    label: "Syncline",
    description:
      "Sync contacts and orders with Syncline: create, read, update and list records, move orders through their lifecycle, follow the changes feed, and start flows from signed webhook events.",
    iconPath: "icon.png",
    category: "Application Connectors",
  },
  actions,
  triggers,
  dataSources,
  connections,
});
